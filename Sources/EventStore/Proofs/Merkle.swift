import Crypto

/// RFC 6962 §2.1 hashing over the log: leaves are events in position order (leaf index =
/// position − 1), a leaf hashes `0x00 || canonical bytes`, an interior node `0x01 || left || right`.
public enum Merkle {
    public typealias Hash = [UInt8]

    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    public static func leafHash(_ bytes: some Sequence<UInt8>) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(bytes))
        return Array(hasher.finalize())
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The largest power of two smaller than `n` (n ≥ 2): RFC 6962's split point `k`.
    static func split(_ n: Int64) -> Int64 {
        var k: Int64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// A complete subtree: 2^level leaves starting at leaf `index << level`.
    public struct Node: Hashable, Sendable, Comparable {
        public let level: Int
        public let index: Int64

        public init(level: Int, index: Int64) {
            self.level = level
            self.index = index
        }

        public static func < (a: Node, b: Node) -> Bool { (a.level, a.index) < (b.level, b.index) }
    }

    /// The complete subtrees whose hashes make MTH(D[start:end]), left to right, for the ranges
    /// RFC 6962's recursion asks about (each piece is aligned to its own size).
    static func pieces(_ start: Int64, _ end: Int64) -> [Node] {
        var nodes: [Node] = []
        var start = start
        while start < end {
            let n = end - start
            // The largest aligned power of two that fits: RFC 6962's left part, or all of it.
            var size: Int64 = 1
            var level = 0
            while size << 1 <= n && start % (size << 1) == 0 {
                size <<= 1
                level += 1
            }
            nodes.append(Node(level: level, index: start >> level))
            start += size
        }
        return nodes
    }

    /// MTH of a range from its pieces' hashes: RFC 6962 pairs the right-hand pieces first.
    static func fold(_ hashes: [Hash]) -> Hash {
        guard var hash = hashes.last else { return emptyRoot }
        for left in hashes.dropLast().reversed() { hash = nodeHash(left, hash) }
        return hash
    }

    /// The ranges whose MTH make up PATH(m, D[0:n]) (RFC 6962 §2.1.1), leaf-most first.
    static func inclusionRanges(index m: Int64, size n: Int64) -> [Range<Int64>] {
        var ranges: [Range<Int64>] = []
        var (m, start, end) = (m, Int64(0), n)
        while end - start > 1 {
            let k = split(end - start)
            if m < k {
                ranges.append((start + k)..<end)
                end = start + k
            } else {
                ranges.append(start..<(start + k))
                start += k
                m -= k
            }
        }
        return ranges.reversed()
    }

    /// The ranges whose MTH make up PROOF(m, D[0:n]) (RFC 6962 §2.1.2), in proof order.
    static func consistencyRanges(old m: Int64, new n: Int64) -> [Range<Int64>] {
        guard m > 0, m < n else { return [] }
        var ranges: [Range<Int64>] = []
        var (m, start, end, complete) = (m, Int64(0), n, true)
        while true {
            let size = end - start
            if m == size {
                if !complete { ranges.append(start..<end) }
                break
            }
            let k = split(size)
            if m <= k {
                ranges.append((start + k)..<end)
                end = start + k
            } else {
                ranges.append(start..<(start + k))
                start += k
                m -= k
                complete = false
            }
        }
        return ranges.reversed()
    }

    /// Every complete subtree a set of ranges needs, for one fetch.
    static func nodes(for ranges: [Range<Int64>]) -> Set<Node> {
        Set(ranges.flatMap { pieces($0.lowerBound, $0.upperBound) })
    }

    static func hashes(
        for ranges: [Range<Int64>], from nodes: [Node: Hash]
    ) throws(ProofError) -> [Hash] {
        try ranges.map { range throws(ProofError) in
            try fold(
                pieces(range.lowerBound, range.upperBound).map { node throws(ProofError) in
                    guard let hash = nodes[node] else { throw ProofError.missingNode(node) }
                    return hash
                })
        }
    }

    public enum ProofError: Error, Equatable, CustomStringConvertible {
        case missingNode(Node)

        public var description: String {
            switch self {
            case .missingNode(let node):
                "the tree has no node at level \(node.level), index \(node.index); has the integrator caught up?"
            }
        }
    }
}

extension Merkle {
    /// Hashes in an inclusion proof for the first leaf of a tree of `size` (the deepest path).
    public static func proofLength(size: Int64) -> Int {
        size > 0 ? inclusionRanges(index: 0, size: size).count : 0
    }
}
