import Testing

@testable import Gateway

/// The `kind` label of `streamd_http_requests_total`, from the request path alone.
@Suite struct DeliveryMetricsTests {
    @Test(arguments: [
        ("/live/demo/index.m3u8", "playlist"),
        ("/live/demo/720p/index.m3u8", "playlist"),
        ("/live/demo/720p/s12.p3.m4s", "part"),
        ("/live/demo/720p/s12.m4s", "segment"),
        ("/live/demo/720p/init.mp4", "init"),
        ("/live/demo/thumbnail.jpg", "thumbnail"),
        ("/live/demo/720p/evil.txt", "other"),
        ("/live", "other"),
        ("/vod/0b7c/index.m3u8", "vod"),
        ("/v1/channels", "api"),
        ("/v1/chat/demo/history", "chat"),
        ("/healthz", "health"),
        ("/metrics", "metrics"),
        ("/", "page"),
        ("/admin/sessions", "page"),
        ("/watch/demo", "page"),
        ("/wp-login.php", "other"),
    ])
    func kindOfPath(_ path: String, _ kind: String) {
        #expect(DeliveryMetrics.kind(of: path) == kind)
    }
}
