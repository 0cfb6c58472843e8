/// Checks RFC 9162 §2.1.3.2 inclusion and §2.1.4.2 consistency proofs. This is the code an
/// auditor trusts, so it takes nothing on faith: sizes, indexes and every hash's length are
/// checked, and a proof must be exactly as long as the sizes call for.
public enum MerkleVerifier {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static func verifyInclusion(
        leafHash: Merkle.Hash, index: Int64, size: Int64, proof: [Merkle.Hash], root: Merkle.Hash
    ) throws(Failure) {
        guard index >= 0, size > 0, index < size else {
            throw Failure("leaf index \(index) is outside a tree of \(size) leaves")
        }
        try checkLengths([leafHash, root] + proof)
        guard proof.count == Merkle.inclusionRanges(index: index, size: size).count else {
            throw Failure(
                "an inclusion proof for leaf \(index) of \(size) has \(proof.count) hashes, not the \(Merkle.inclusionRanges(index: index, size: size).count) it must have"
            )
        }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw Failure("the inclusion proof is longer than the tree is deep") }
            if fn & 1 == 1 || fn == sn {
                r = Merkle.nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = Merkle.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw Failure("the inclusion proof is shorter than the tree is deep") }
        guard r == root else {
            throw Failure("the inclusion proof for leaf \(index) does not lead to the root of the tree of size \(size)")
        }
    }

    public static func verifyConsistency(
        oldSize: Int64, oldRoot: Merkle.Hash, newSize: Int64, newRoot: Merkle.Hash, proof: [Merkle.Hash]
    ) throws(Failure) {
        guard oldSize >= 0, oldSize <= newSize else {
            throw Failure("a tree of \(oldSize) leaves cannot be a prefix of one of \(newSize)")
        }
        try checkLengths([oldRoot, newRoot] + proof)
        if oldSize == newSize {
            guard proof.isEmpty else { throw Failure("a consistency proof between equal sizes must be empty") }
            guard oldRoot == newRoot else {
                throw Failure("two different roots for the same size \(newSize): the log was forked or rewritten")
            }
            return
        }
        if oldSize == 0 {
            guard proof.isEmpty else { throw Failure("a consistency proof from the empty tree must be empty") }
            return
        }
        let expected = Merkle.consistencyRanges(old: oldSize, new: newSize).count
        guard proof.count == expected else {
            throw Failure("a consistency proof from \(oldSize) to \(newSize) has \(proof.count) hashes, not the \(expected) it must have")
        }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw Failure("the consistency proof is longer than the tree is deep") }
            if fn & 1 == 1 || fn == sn {
                fr = Merkle.nodeHash(c, fr)
                sr = Merkle.nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = Merkle.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw Failure("the consistency proof is shorter than the tree is deep") }
        guard fr == oldRoot else {
            throw Failure("the consistency proof does not reproduce the old root at size \(oldSize): the log was rewritten")
        }
        guard sr == newRoot else {
            throw Failure("the consistency proof does not reproduce the new root at size \(newSize)")
        }
    }

    private static func checkLengths(_ hashes: [Merkle.Hash]) throws(Failure) {
        for hash in hashes where hash.count != 32 {
            throw Failure("a hash of \(hash.count) bytes where SHA-256 has 32")
        }
    }
}
