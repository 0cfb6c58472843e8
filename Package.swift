// swift-tools-version:6.2
// 6.2 because Hummingbird 2.28's manifest requires it.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "streamd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "streamd", targets: ["streamd"])
    ],
    dependencies: [
        // swift-nio exactly: the mirror has 2.101.2 and 2.101.3, and every NIO-based dependency
        // must resolve to the one this build was tested with. swift-crypto 4 is what jwt-kit 5
        // needs; every other dependency allows 3.x to 5.x.
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // MARK: C libraries
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavcodec",
            providers: [.apt(["libavcodec-dev", "libavformat-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]
        ),
        // No pkgConfig: srt.pc would add -lsrt (the OpenSSL flavour); Ingest links libsrt itself.
        .systemLibrary(
            name: "CSRT",
            providers: [.apt(["libsrt-openssl-dev", "libsrt1.5-gnutls"])]
        ),

        // MARK: The house, bottom up (DESIGN.md §2: arrows only go down)
        .target(name: "Media", swiftSettings: strict),
        .target(
            name: "EventStore",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            resources: [.copy("Migrations")],
            swiftSettings: strict
        ),
        .target(
            name: "Channels",
            dependencies: [
                "EventStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Ingest",
            dependencies: [
                "Media", "EventStore", "Channels", "CSRT",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict,
            // libavformat (Debian) loads libsrt-gnutls; linking the OpenSSL libsrt beside it puts two
            // copies of libsrt's C++ statics in one process, which crashes at exit. Headers come
            // from libsrt-openssl-dev (identical for both flavours); `-l:` names the runtime library.
            linkerSettings: [
                .linkedLibrary(":libsrt-gnutls.so.1.5", .when(platforms: [.linux])),
                .linkedLibrary("srt", .when(platforms: [.macOS])),
            ]
        ),
        .target(
            name: "Transcode",
            dependencies: [
                "Media", "EventStore", "CFFmpeg", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Packager",
            dependencies: [
                "Media", "EventStore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Chat",
            dependencies: [
                "EventStore", "Channels",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Quality",
            dependencies: [
                "EventStore", "Ingest", "Transcode",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Viewer counts and player QoE (CMCD): pure values and bounded holders, no I/O.
        .target(
            name: "Gateway",
            dependencies: [
                "EventStore", "Channels", "Media", "Ingest", "Transcode", "Packager", "Chat", "Quality",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [.copy("Console/Assets")],
            swiftSettings: strict
        ),
        .target(
            name: "Node",
            dependencies: [
                "Media", "EventStore", "Channels", "Ingest", "Transcode", "Packager", "Chat", "Quality", "Gateway",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "streamd",
            dependencies: [
                "Node",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // Fuzz drivers, shared by the libFuzzer targets and the test suite.
        .target(
            name: "IngestFuzzing", dependencies: ["Ingest", "Media", .product(name: "NIOCore", package: "swift-nio")],
            path: "ops/fuzz.d/IngestFuzzing", swiftSettings: strict),
        // Every libFuzzer target in one executable (ops/fuzz builds it with -sanitize=fuzzer,address
        // and -DSTREAMD_LIBFUZZER); without them it replays inputs given as files.
        .executableTarget(
            name: "StreamdFuzz",
            dependencies: [
                "Media", "EventStore", "Ingest", "Packager", "Chat", "Gateway", "IngestFuzzing",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "ops/fuzz.d/StreamdFuzz", swiftSettings: strict),
        .executableTarget(
            name: "IngestBench",
            dependencies: [
                "Ingest", "Media", "EventStore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ], path: "ops/bench/IngestBench", swiftSettings: strict),

        .executableTarget(
            name: "EventStoreBench",
            dependencies: [
                "Node", "Media",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "ops/bench/EventStoreBench", swiftSettings: strict),
        .executableTarget(
            name: "SRTBench", dependencies: ["Ingest", "Media", "EventStore"], path: "ops/bench/SRTBench", swiftSettings: strict),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "EventStore", .product(name: "Logging", package: "swift-log"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .target(name: "IngestTestSupport", dependencies: ["Ingest"], path: "Tests/IngestTestSupport", swiftSettings: strict),
        // Media files as sources and sinks through libav, for the transcode tests and benchmark.
        .target(
            name: "TranscodeFiles", dependencies: ["Transcode", "Media", "CFFmpeg"], path: "Tests/TranscodeFiles", swiftSettings: strict),
        .testTarget(name: "EventStoreTests", dependencies: ["EventStore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ChannelsTests", dependencies: ["Channels", "EventStore", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "QualityTests",
            dependencies: ["Quality", "Ingest", "Transcode", "EventStore", "Node", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "Node", "Gateway", "EventStore", "Channels", "Ingest", "Quality", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "EventStore", "Channels", "Ingest", "Transcode", "Quality", "Chat", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChatTests",
            dependencies: [
                "Chat", "Gateway", "Node", "Channels", "EventStore", "TestSupport",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        // Browser/ holds the Selenium scripts the browser tests run; Fixtures/ the servers other tests talk to.
        .testTarget(
            name: "StreamdTests", dependencies: ["TestSupport", "EventStore", "Media", "TranscodeFiles"], exclude: ["Browser", "Fixtures"],
            swiftSettings: strict),
        .testTarget(name: "MediaTests", dependencies: ["Media"], swiftSettings: strict),
        .testTarget(
            name: "IngestTests",
            dependencies: [
                "Ingest", "Media", "EventStore", "Channels", "TestSupport", "CSRT", "IngestTestSupport", "IngestFuzzing",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TranscodeTests", dependencies: ["Transcode", "TranscodeFiles", "Media", "EventStore", "TestSupport"],
            swiftSettings: strict),
        .testTarget(name: "PackagerTests", dependencies: ["Packager", "Media", "EventStore", "TestSupport"], swiftSettings: strict),
        .executableTarget(
            name: "ChatBench",
            dependencies: [
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "ops/bench/ChatBench", swiftSettings: strict),
        .executableTarget(
            name: "TranscodeBench", dependencies: ["Transcode", "TranscodeFiles", "Media"], path: "ops/bench/TranscodeBench",
            swiftSettings: strict),
    ]
)
