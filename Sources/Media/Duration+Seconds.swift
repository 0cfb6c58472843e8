extension Duration {
    /// The duration in seconds, attoseconds included, for rates and human-readable reports.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
