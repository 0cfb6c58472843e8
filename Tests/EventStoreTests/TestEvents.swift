import EventStore
import Foundation

struct Counted: DomainEvent, Equatable {
    static let eventType = "TestCounted"
    var writer: String
    var n: Int
}

/// v2 of a renamed field: `title` became `name`, and `tags` appeared.
struct Renamed: DomainEvent, Equatable {
    static let eventType = "TestRenamed"
    static let schemaVersion = 2
    var name: String
    var tags: [String]
}

struct RenamedV1: DomainEvent {
    static let eventType = "TestRenamed"
    static let schemaVersion = 1
    var title: String
}

extension EventRegistry {
    static var test: EventRegistry {
        var registry = EventRegistry()
        registry.register(Counted.self)
        registry.register(Renamed.self)
        registry.registerUpcaster("TestRenamed", from: 1) { json in
            var json = json
            json["name"] = json["title"]
            json["title"] = nil
            json["tags"] = .array([])
            return json
        }
        return registry
    }
}

let testActor = EventMetadata(actor: .system("tests"))
