import ArgumentParser
import Foundation
import Logging
import Node

enum Environment {
    static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment["STREAMD_\(name)"], !value.isEmpty else { return nil }
        return value
    }

    static func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else { throw ValidationError("STREAMD_\(name) must be a whole number, not \"\(text)\"") }
        return value
    }

    static func double(_ name: String) throws -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = Double(text), value.isFinite else { throw ValidationError("STREAMD_\(name) must be a number, not \"\(text)\"") }
        return value
    }

    static func bool(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("STREAMD_\(name) must be true or false, not \"\(text)\"")
        }
    }
}
