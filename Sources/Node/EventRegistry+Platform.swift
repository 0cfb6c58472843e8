import Channels
import Chat
import EventStore
import Gateway
import Ingest
import Packager
import Quality
import Transcode

extension EventRegistry {
    /// Every event type this build knows.
    public static var platform: EventRegistry {
        var registry = EventRegistry()
        registry.registerLogEvents()
        registry.registerChannelEvents()
        registry.registerClusterEvents()
        registry.registerWebhookEvents()
        registry.registerIngestEvents()
        registry.registerTranscodeEvents()
        registry.registerPackagerEvents()
        registry.registerQualityEvents()
        registry.registerIngestAlertEvents()
        registry.registerChatEvents()
        registry.registerGatewayEvents()
        return registry
    }
}
