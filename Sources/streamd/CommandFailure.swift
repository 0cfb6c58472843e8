import ArgumentParser
import Foundation
import Logging
import Node
import ServiceLifecycle

/// A failure at run time (not a usage mistake): printed without the usage text, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
