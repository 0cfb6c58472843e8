import ArgumentParser
import Foundation
import Logging
import Node
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the platform: ingest, transcoding, LL-HLS delivery, REST API and chat.",
        discussion: """
            Stops gracefully on SIGINT or SIGTERM, and then stops the embedded PostgreSQL cluster if \
            it started it.
            """)

    @OptionGroup var database: DatabaseOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Most megabytes of events kept in DATA_DIR/spool while the database is away; past it they are lost, with an error in the log. (env STREAMD_SPOOL_LIMIT_MB, default 256)",
            valueName: "MB"))
    var spoolLimitMb: Int?

    @Option(
        name: .long, help: ArgumentHelp("HTTP port for playback, REST and chat. (env STREAMD_HTTP_PORT, default 8080)", valueName: "port"))
    var httpPort: Int?

    @Option(name: .long, help: ArgumentHelp("RTMP ingest port. (env STREAMD_RTMP_PORT, default 1935)", valueName: "port"))
    var rtmpPort: Int?

    @Option(name: .long, help: ArgumentHelp("SRT ingest port. (env STREAMD_SRT_PORT, default 9000)", valueName: "port"))
    var srtPort: Int?

    @Option(
        name: .long, help: ArgumentHelp("SRT receiver latency in milliseconds. (env STREAMD_SRT_LATENCY, default 120)", valueName: "ms"))
    var srtLatency: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "SRT AES passphrase (10 to 79 characters); callers without it are refused. (env STREAMD_SRT_PASSPHRASE, default none)",
            valueName: "text"))
    var srtPassphrase: String?

    @Option(name: .long, help: ArgumentHelp("Address to listen on. (env STREAMD_HOST, default 0.0.0.0)", valueName: "address"))
    var host: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Host name to put in ingest URLs given to users. (env STREAMD_PUBLIC_HOST, default: the Host the request came to)",
            valueName: "name"))
    var publicHost: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Token of the first admin, `admin` (others: `streamd admins add NAME`). Without it one is generated on first start and kept in DATA_DIR/admin-token (mode 0600). (env STREAMD_ADMIN_TOKEN)",
            valueName: "token"))
    var adminToken: String?

    @OptionGroup var checkpointKey: CheckpointKeyOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also write every signed checkpoint into this folder (a mount the database's holder cannot rewrite). (env STREAMD_CHECKPOINT_DIR)",
            valueName: "path"))
    var checkpointDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Attempts per webhook delivery before it is dead-lettered (WebhookDeliveryFailed). (env STREAMD_WEBHOOK_MAX_ATTEMPTS, default 8)",
            valueName: "n"))
    var webhookMaxAttempts: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Milliseconds before a webhook's second attempt; it doubles after each failure, up to 60 s. (env STREAMD_WEBHOOK_RETRY_MS, default 1000)",
            valueName: "ms"))
    var webhookRetryMs: Int?

    @Flag(
        name: .long,
        help:
            "Let webhooks call link-local addresses and this node's own HTTP ports (refused by default: SSRF). (env STREAMD_WEBHOOKS_ALLOW_INTERNAL)"
    )
    var webhooksAllowInternal = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Ask this URL before each publish goes live (POST JSON; a 2xx with {\"allowed\": true} admits it, {\"allowed\": false, \"reason\": …} refuses it). (env STREAMD_PUBLISH_HOOK)",
            valueName: "url"))
    var publishHook: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Milliseconds the publish hook has to answer. (env STREAMD_PUBLISH_HOOK_TIMEOUT_MS, default 2000)", valueName: "ms"))
    var publishHookTimeoutMs: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "What a publish gets when the hook does not answer, fails or answers something else: deny or allow. (env STREAMD_PUBLISH_HOOK_DEFAULT, default deny)",
            valueName: "deny|allow"))
    var publishHookDefault: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How other nodes on the same database reach this one. (env STREAMD_NODE_URL, default http://HOST:HTTP_PORT, with --public-host or this machine's name for 0.0.0.0)",
            valueName: "url"))
    var nodeURL: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How this node answers live playback of a channel another node ingests: proxy (fetch and stream it back) or redirect (307 to that node). (env STREAMD_CLUSTER_PLAYBACK, default proxy)",
            valueName: "proxy|redirect"))
    var clusterPlayback: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds after its last renewal that another node takes this one as lost and ends its sessions; it renews three times as often. (env STREAMD_NODE_LEASE_SECONDS, default 15)",
            valueName: "seconds"))
    var nodeLeaseSeconds: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also PUT every signed checkpoint to URL/SIZE-MILLISECONDS.checkpoint (write-once storage); repeatable. (env STREAMD_CHECKPOINT_URL; a bearer token in STREAMD_CHECKPOINT_TOKEN)",
            valueName: "url"))
    var checkpointURL: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Send every signed checkpoint to this C2SP tlog-witness (POST URL/add-checkpoint with a consistency proof); repeatable. (env STREAMD_WITNESS_URL)",
            valueName: "url"))
    var witnessURL: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "LL-HLS part target in seconds, 0.2-2; players stay three of them behind live. (env STREAMD_PART_TARGET, default 0.25)",
            valueName: "seconds"))
    var partTarget: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Seconds of the live DVR window; channels may set their own. (env STREAMD_DVR_WINDOW, default 1800)", valueName: "seconds"))
    var dvrWindow: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Record sessions for VOD at /vod/SESSION/index.m3u8 unless a channel says otherwise. (env STREAMD_RECORDING, default true)",
            valueName: "true|false"))
    var recording: Bool?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Delete recordings this many days after they end; 0 keeps them forever. (env STREAMD_RECORDING_RETENTION_DAYS, default 7)",
            valueName: "days"))
    var recordingRetentionDays: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PEM certificate chain: also serve HTTPS (HTTP/2, HTTP/1.1 and wss:// chat) on --https-port and RTMPS on --rtmps-port; SIGHUP reloads it and the key. (env STREAMD_TLS_CERT)",
            valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM private key of --tls-cert. (env STREAMD_TLS_KEY)", valueName: "file"))
    var tlsKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "HTTPS port when --tls-cert and --tls-key are given. (env STREAMD_HTTPS_PORT, default 8443)", valueName: "port"))
    var httpsPort: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "RTMPS ingest port when --tls-cert and --tls-key are given; 0 turns RTMPS off. (env STREAMD_RTMPS_PORT, default 1936)",
            valueName: "port"))
    var rtmpsPort: Int?

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "Answer 403 to admin routes, the console and the admin token on plain HTTP: admins use HTTPS only. Needs --tls-cert. (env STREAMD_REQUIRE_TLS)"
        ))
    var requireTLS = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long a chat viewer token from POST /v1/viewers stays valid, in hours. (env STREAMD_CHAT_TOKEN_HOURS, default 24)",
            valueName: "hours"))
    var chatTokenHours: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Open HTTP connections one address may hold, chat sockets included; raise it behind a proxy that connects from one address. (env STREAMD_HTTP_CONNECTIONS_PER_ADDRESS, default 2048)",
            valueName: "count"))
    var httpConnectionsPerAddress: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Chat sockets one address may hold. (env STREAMD_CHAT_SOCKETS_PER_ADDRESS, default 1024)", valueName: "count"))
    var chatSocketsPerAddress: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A token Prometheus must send (Authorization: Bearer) to scrape /metrics; the admin token works too. Unset, /metrics is open. (env STREAMD_METRICS_TOKEN)",
            valueName: "token"))
    var metricsToken: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "No media for this long from the playing input switches to the channel's other input (a backup publishes with ?role=backup), in milliseconds, 500 to 10000. (env STREAMD_INPUT_STALL_MS, default 1500)",
            valueName: "ms"))
    var inputStallMs: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A primary input that came back plays again after this many seconds without a stall, 1 to 300. (env STREAMD_INPUT_SWITCH_BACK_SECONDS, default 5)",
            valueName: "seconds"))
    var inputSwitchBackSeconds: Double?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Play a standby slate while a session's encoders are all away (its grace window): on or off. (env STREAMD_SLATE, default on)",
            valueName: "on|off"))
    var slate: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A PNG or JPEG the standby slate shows, scaled to each stream's size; default a drawn STANDBY card. (env STREAMD_SLATE_IMAGE)",
            valueName: "file"))
    var slateImage: String?

    func run() async throws {
        let logger = makeLogger()
        let metrics = NodeMetrics.bootstrap()
        let tuned = MemoryTuning.apply(cores: ProcessInfo.processInfo.activeProcessorCount)
        logger.debug("malloc settings for a long run", metadata: ["applied": "\(tuned)"])
        if let limit = OpenFileLimit.raiseToHard() {
            logger.info(
                "open-file limit",
                metadata: ["soft": "\(limit.after.soft)", "hard": "\(limit.after.hard)", "soft_at_start": "\(limit.before.soft)"])
            if limit.after.soft < 8_192 {
                logger.warning(
                    "the open-file limit is \(limit.after.soft) descriptors: client sockets, segment files and database connections share it; raise the hard limit (ulimit -Hn, LimitNOFILE=) for a public server"
                )
            }
        }
        let httpPort = try self.httpPort ?? Environment.int("HTTP_PORT") ?? 8080
        let rtmpPort = try self.rtmpPort ?? Environment.int("RTMP_PORT") ?? 1935
        let srtPort = try self.srtPort ?? Environment.int("SRT_PORT") ?? 9000
        let srt = SRTConfiguration(
            latencyMilliseconds: try srtLatency ?? Environment.int("SRT_LATENCY") ?? 120,
            passphrase: srtPassphrase ?? Environment.string("SRT_PASSPHRASE"))
        do { try srt.validate() } catch { throw ValidationError(error.description) }
        let host = self.host ?? Environment.string("HOST") ?? "0.0.0.0"
        let publicHost = self.publicHost ?? Environment.string("PUBLIC_HOST")
        try FileManager.default.createDirectory(at: database.dataDirectory, withIntermediateDirectories: true)
        let token = try AdminToken.resolve(explicit: adminToken ?? Environment.string("ADMIN_TOKEN"), dataDirectory: database.dataDirectory)

        var packager = PackagerOptions()
        packager.partTarget = try partTarget ?? Environment.double("PART_TARGET") ?? packager.partTarget
        packager.dvrWindow = try dvrWindow ?? Environment.double("DVR_WINDOW") ?? packager.dvrWindow
        packager.recording = try recording ?? Environment.bool("RECORDING") ?? packager.recording
        do {
            packager = try packager.validated()
        } catch {
            throw ValidationError("\(error)")
        }
        let retentionDays = try recordingRetentionDays ?? Environment.double("RECORDING_RETENTION_DAYS") ?? 7
        guard retentionDays >= 0 else { throw ValidationError("--recording-retention-days must be 0 (keep forever) or more") }
        var media = Platform.MediaOptions(
            directory: database.dataDirectory.appendingPathComponent("media"),
            defaults: LivePipeline.Defaults(packager: packager),
            recordingRetention: retentionDays > 0 ? retentionDays * 86_400 : nil,
            thumbnails: database.dataDirectory.appendingPathComponent("thumbnails"))
        let slateMode = slate ?? Environment.string("SLATE") ?? "on"
        guard slateMode == "on" || slateMode == "off" else { throw ValidationError("--slate is on or off, not '\(slateMode)'") }
        let slateImage = self.slateImage ?? Environment.string("SLATE_IMAGE")
        if slateMode == "on" {
            let slates = StandbySlates(
                image: slateImage.map { URL(fileURLWithPath: $0) }, keyframeInterval: Double(media.defaults.ladder.keyframeInterval),
                logger: logger)
            do {
                try slates.validate()
            } catch {
                throw ValidationError("--slate-image cannot be used: \(error)")
            }
            media.slate = slates
        }
        let inputStall = try inputStallMs ?? Environment.int("INPUT_STALL_MS") ?? 1500
        guard (500...10_000).contains(inputStall) else { throw ValidationError("--input-stall-ms must be between 500 and 10000") }
        let switchBack = try inputSwitchBackSeconds ?? Environment.double("INPUT_SWITCH_BACK_SECONDS") ?? 5
        guard (1...300).contains(switchBack) else { throw ValidationError("--input-switch-back-seconds must be between 1 and 300") }

        let tlsCert = self.tlsCert ?? Environment.string("TLS_CERT")
        let tlsKey = self.tlsKey ?? Environment.string("TLS_KEY")
        let httpsPort = try self.httpsPort ?? Environment.int("HTTPS_PORT") ?? 8443
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
        }
        let requireTLS = try self.requireTLS || (Environment.bool("REQUIRE_TLS") ?? false)
        guard !requireTLS || tlsCert != nil else {
            throw ValidationError("--require-tls needs HTTPS: give --tls-cert and --tls-key too")
        }
        let rtmpsPort = try self.rtmpsPort ?? Environment.int("RTMPS_PORT") ?? 1936
        var certificates: TLSCertificates?
        if let tlsCert, let tlsKey {
            do {
                certificates = try TLSCertificates(certificatePath: tlsCert, keyPath: tlsKey)
            } catch {
                throw CommandFailure(error.description)
            }
        }

        let chatTokenHours = try self.chatTokenHours ?? Environment.int("CHAT_TOKEN_HOURS") ?? 24
        guard chatTokenHours > 0, chatTokenHours <= 24 * 365 else {
            throw ValidationError("--chat-token-hours must be between 1 and 8760")
        }
        let chat = ChatConfiguration(
            secret: try ChatConfiguration.secret(in: database.dataDirectory), tokenLifetime: TimeInterval(chatTokenHours) * 3_600)

        var limits = HTTPLimits.fitting(openFiles: OpenFileLimit.current()?.soft ?? 1_024)
        if let perAddress = try httpConnectionsPerAddress ?? Environment.int("HTTP_CONNECTIONS_PER_ADDRESS") {
            guard perAddress >= 1 else { throw ValidationError("--http-connections-per-address must be 1 or more") }
            limits.maxConnectionsPerAddress = perAddress
        }
        if let perAddress = try chatSocketsPerAddress ?? Environment.int("CHAT_SOCKETS_PER_ADDRESS") {
            guard perAddress >= 1 else { throw ValidationError("--chat-sockets-per-address must be 1 or more") }
            limits.maxWebSocketsPerAddress = perAddress
        }

        let playbackText = clusterPlayback ?? Environment.string("CLUSTER_PLAYBACK") ?? "proxy"
        guard let playbackMode = GatewayConfiguration.ClusterPlayback(rawValue: playbackText) else {
            throw ValidationError("--cluster-playback must be proxy or redirect (got \(playbackText))")
        }
        var webhookOptions = WebhookDispatcher.Options()
        webhookOptions.maxAttempts = try webhookMaxAttempts ?? Environment.int("WEBHOOK_MAX_ATTEMPTS") ?? 8
        let retryMilliseconds = try webhookRetryMs ?? Environment.int("WEBHOOK_RETRY_MS") ?? 1_000
        guard (10...60_000).contains(retryMilliseconds) else { throw ValidationError("--webhook-retry-ms must be between 10 and 60000") }
        webhookOptions.retryBase = .milliseconds(retryMilliseconds)
        guard (1...50).contains(webhookOptions.maxAttempts) else {
            throw ValidationError("--webhook-max-attempts must be between 1 and 50")
        }
        let allowInternal = try webhooksAllowInternal || (Environment.bool("WEBHOOKS_ALLOW_INTERNAL") ?? false)
        let hookTimeout = try publishHookTimeoutMs ?? Environment.int("PUBLISH_HOOK_TIMEOUT_MS") ?? 2_000
        guard (100...5_000).contains(hookTimeout) else { throw ValidationError("--publish-hook-timeout-ms must be between 100 and 5000") }
        let hookDefaultText = publishHookDefault ?? Environment.string("PUBLISH_HOOK_DEFAULT") ?? "deny"
        guard let hookDefault = PublishHook.Default(rawValue: hookDefaultText) else {
            throw ValidationError("--publish-hook-default must be deny or allow (got \(hookDefaultText))")
        }
        let hookURL = try (publishHook ?? Environment.string("PUBLISH_HOOK")).map { text -> URL in
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
                throw ValidationError("--publish-hook \(text): give an http:// or https:// URL with a host")
            }
            return url
        }
        let leaseSeconds = try nodeLeaseSeconds ?? Environment.double("NODE_LEASE_SECONDS") ?? 15
        guard leaseSeconds >= 1, leaseSeconds <= 3_600 else { throw ValidationError("--node-lease-seconds must be between 1 and 3600") }
        let spoolLimit = try spoolLimitMb ?? Environment.int("SPOOL_LIMIT_MB") ?? 256
        guard spoolLimit >= 1 else { throw ValidationError("--spool-limit-mb must be 1 or more") }
        var storeOptions = EventStore.Options()
        storeOptions.spool = .init(directory: database.dataDirectory.appendingPathComponent("spool"), limitBytes: spoolLimit << 20)
        let signer = try checkpointKey.loadOrCreate(dataDirectory: database.dataDirectory)
        var integration = MerkleIntegrator.Options()
        integration.pushDirectory = (checkpointDir ?? Environment.string("CHECKPOINT_DIR")).map { URL(fileURLWithPath: $0) }
        let pushTargets = try checkpointTargets()
        let nodeID = try NodeIdentity.loadOrCreate(in: database.dataDirectory)
        let opened = try await database.open(logger: logger, options: storeOptions, waitForDatabase: true)
        var gatewayConfiguration = GatewayConfiguration(
            host: host, port: httpPort, adminToken: token.value, publicHost: publicHost, rtmpPort: rtmpPort, srtPort: srtPort,
            limits: limits, metricsToken: metricsToken ?? Environment.string("METRICS_TOKEN"))
        if certificates != nil {
            gatewayConfiguration.httpsPort = httpsPort
            gatewayConfiguration.rtmpsPort = rtmpsPort > 0 ? rtmpsPort : nil
            gatewayConfiguration.requireTLS = requireTLS
        }
        let nodeURL =
            nodeURL ?? Environment.string("NODE_URL")
            ?? "http://\(publicHost ?? (host == "0.0.0.0" ? ProcessInfo.processInfo.hostName : host)):\(httpPort)"
        gatewayConfiguration.nodeURL = nodeURL
        gatewayConfiguration.clusterPlayback = playbackMode
        gatewayConfiguration.webhooksAllowInternal = allowInternal
        var ingest = IngestConfiguration()
        ingest.sessions.nodeID = nodeID
        ingest.sessions.inputStall = .milliseconds(inputStall)
        ingest.sessions.inputSwitchBack = .milliseconds(Int(switchBack * 1000))
        let platform: Platform
        do {
            platform = try await Platform(
                store: opened.store, configuration: gatewayConfiguration, ingest: ingest, srt: srt, media: media, chat: chat,
                metrics: metrics, tls: certificates, logger: logger)
        } catch {
            await opened.close()
            throw error
        }
        var http: [any Service] = [NamedService("HTTP", platform.gateway.application(logger: logger), logger: logger)]
        if let certificates {
            http.append(
                NamedService(
                    "HTTPS", platform.gateway.tlsApplication(certificates: certificates, port: httpsPort, logger: logger), logger: logger))
            http.append(CertificateReloader(certificates: certificates, logger: logger))
        }
        let shownHost = publicHost ?? (host == "0.0.0.0" ? "localhost" : host)
        var clusterOptions = ClusterService.Options()
        clusterOptions.lease = .milliseconds(Int(leaseSeconds * 1000))
        let cluster = ClusterService(
            store: opened.store, nodeID: nodeID, url: nodeURL, sessions: platform.rtmp.registry, options: clusterOptions, logger: logger)
        await platform.rtmp.registry.use(cluster)
        if let hookURL {
            platform.rtmp.use(
                admission: PublishHook(
                    url: hookURL, timeout: .milliseconds(hookTimeout), fallback: hookDefault, node: nodeURL, logger: logger))
        }
        var banner = [
            "streamd is up",
            "  HTTP:        http://\(shownHost):\(httpPort)  (REST under /v1, playback under /live/CHANNEL/index.m3u8, recordings under /vod)",
            "  RTMP ingest: rtmp://\(shownHost):\(platform.rtmpPort)/live/<stream key>",
            "  SRT ingest:  srt://\(shownHost):\(platform.srtPort)?streamid=#!::r=live/<stream key>,m=publish"
                + (srt.passphrase != nil ? "  (with the passphrase)" : ""),
            "  database:    \(opened.store.url)\(opened.cluster != nil ? " (embedded, in \(database.dataDirectory.path)/postgres)" : "")",
        ]
        if let certificates {
            var lines = [
                "  HTTPS:       https://\(shownHost):\(httpsPort)  (HTTP/2 and wss:// chat; use it for LL-HLS in browsers)"
                    + (requireTLS ? "; admin over HTTPS only" : "")
            ]
            if let port = platform.rtmpsPort { lines.append("  RTMPS ingest: rtmps://\(shownHost):\(port)/live/<stream key>") }
            lines.append("  certificate: \(certificates.summary)  (kill -HUP \(getpid()) reloads it)")
            banner.insert(contentsOf: lines, at: 2)
        }
        switch token.source {
        case .explicit: banner.append("  admin token: as given by --admin-token / STREAMD_ADMIN_TOKEN")
        case .file(let path): banner.append("  admin token: in \(path)")
        case .generated(let path): banner.append("  admin token: \(token.value)  (generated now, shown once; kept in \(path))")
        }
        banner.append("  checkpoints: signed by \(signer.verifier)")
        for target in pushTargets { banner.append("  checkpoints go to the \(target)") }
        banner.append("  node: \(nodeID), reached by other nodes at \(cluster.url)")
        banner.append(
            "  create a channel: curl -H 'Authorization: Bearer <admin token>' -d '{\"name\":\"demo\"}' http://\(shownHost):\(httpPort)/v1/channels"
        )
        print(banner.joined(separator: "\n"))
        fflush(nil)

        // One group, in start order: the log first (it closes last), the node's parts, the HTTP
        // servers last (they stop accepting first). SIGTERM or SIGINT stops them in reverse.
        let watchdog = ShutdownWatchdog(database: opened, logger: logger)
        let pushers = pushTargets.map {
            CheckpointPusher(
                target: $0, tree: MerkleTree(store: opened.store), bearer: Environment.string("CHECKPOINT_TOKEN"), logger: logger)
        }
        if !pushers.isEmpty {
            integration.onCheckpoint = { checkpoint in
                for pusher in pushers { await pusher.submit(checkpoint) }
            }
        }
        let webhooks = WebhookDispatcher(
            registry: WebhookRegistry(store: opened.store, targets: platform.gateway.webhookTargets), leases: cluster.leases,
            options: webhookOptions, logger: logger)
        let integrator = CheckpointService(
            integrator: MerkleIntegrator(store: opened.store, key: signer, options: integration), logger: logger)
        // The cluster joins before ingest opens and leaves after its sessions ended.
        let group = Platform.group([opened, cluster] + platform.services + [integrator, webhooks] + http + [watchdog], logger: logger) {
            configuration in
            configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        }
        let trimming = Task.detached(priority: .background) { await MemoryTuning.trimPeriodically() }
        defer { trimming.cancel() }
        do {
            try await group.run()
        } catch {
            await opened.close()
            throw CommandFailure(
                "streamd stopped on an error: \(error) (is HTTP port \(httpPort) already in use? choose another with --http-port)")
        }
        // Already closed by the group unless its shutdown ran out of time and cancelled it.
        await opened.close()
        print("streamd stopped")
    }
}

extension ServeCommand {
    /// `--checkpoint-url` and `--witness-url` (or their variables), checked before anything starts.
    func checkpointTargets() throws -> [CheckpointPusher.Target] {
        let storage = checkpointURL.isEmpty ? Environment.string("CHECKPOINT_URL").map { [$0] } ?? [] : checkpointURL
        let witnesses = witnessURL.isEmpty ? Environment.string("WITNESS_URL").map { [$0] } ?? [] : witnessURL
        func parse(_ text: String, _ option: String) throws -> URL {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                url.host?.isEmpty == false
            else {
                throw ValidationError("\(option) \(text): give an http:// or https:// URL with a host")
            }
            return url
        }
        return try storage.map { .storage(try parse($0, "--checkpoint-url")) } + witnesses.map { .witness(try parse($0, "--witness-url")) }
    }
}

/// This node's id in a cluster: made once and kept in the data folder, so a restart is the same node.
enum NodeIdentity {
    static func loadOrCreate(in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("node-id")
        if let text = try? String(contentsOf: file, encoding: .utf8),
            let id = UUID(uuidString: text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return id.uuidString.lowercased()
        }
        let id = UUID().uuidString.lowercased()
        do { try Data((id + "\n").utf8).write(to: file, options: .atomic) } catch {
            throw CommandFailure("cannot write \(file.path): \(error.localizedDescription); check the data folder's permissions")
        }
        return id
    }
}
