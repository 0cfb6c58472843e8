/// The right edge of a growing tree: one complete subtree per set bit of the size, largest first.
/// Appending a leaf merges equal subtrees, and says which complete nodes it finished, so the
/// integrator stores them; the root at any size folds the frontier.
public struct MerkleFrontier: Sendable, Equatable {
    public private(set) var size: Int64 = 0
    /// (level, hash) of each complete subtree on the edge, largest first.
    public private(set) var peaks: [(level: Int, hash: Merkle.Hash)] = []

    public init() {}

    /// A frontier at `size` from its peaks' hashes (largest first), as `Merkle.peaks(size:)` lists them.
    public init(size: Int64, peakHashes: [Merkle.Hash]) throws(MerkleVerifier.Failure) {
        let nodes = MerkleFrontier.peakNodes(size: size)
        guard nodes.count == peakHashes.count else {
            throw MerkleVerifier.Failure("a tree of \(size) leaves has \(nodes.count) peaks, not \(peakHashes.count)")
        }
        self.size = size
        self.peaks = zip(nodes, peakHashes).map { (level: $0.level, hash: $1) }
    }

    /// The complete subtrees on the edge of a tree of `size` leaves, largest first.
    public static func peakNodes(size: Int64) -> [Merkle.Node] {
        Merkle.pieces(0, size)
    }

    /// Adds a leaf; returns every complete node this finished, the leaf first.
    @discardableResult
    public mutating func append(leaf: Merkle.Hash) -> [(node: Merkle.Node, hash: Merkle.Hash)] {
        var finished: [(node: Merkle.Node, hash: Merkle.Hash)] = [(Merkle.Node(level: 0, index: size), leaf)]
        var level = 0
        var hash = leaf
        while let last = peaks.last, last.level == level {
            peaks.removeLast()
            hash = Merkle.nodeHash(last.hash, hash)
            level += 1
            finished.append((Merkle.Node(level: level, index: size >> level), hash))
        }
        peaks.append((level, hash))
        size += 1
        return finished
    }

    public var root: Merkle.Hash { Merkle.fold(peaks.map(\.hash)) }

    public static func == (a: MerkleFrontier, b: MerkleFrontier) -> Bool {
        a.size == b.size && a.peaks.map(\.hash) == b.peaks.map(\.hash)
    }
}
