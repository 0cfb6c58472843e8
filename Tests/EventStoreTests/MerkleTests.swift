import Foundation
import Testing

@testable import EventStore

/// The proof logic an auditor trusts: RFC 6962 test vectors (Certificate Transparency's
/// merkle_tree_test.cc, also in trillian), and every proof of small random trees against the
/// definition, with each kind of mutation refused.
@Suite struct MerkleTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static let vectorLeaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .map { Merkle.leafHash(hex($0)) }
    static let vectorRoots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map(hex)

    /// MTH straight from RFC 6962 §2.1, recursively.
    static func naiveRoot(_ leaves: ArraySlice<Merkle.Hash>) -> Merkle.Hash {
        if leaves.isEmpty { return Merkle.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        let k = Int(Merkle.split(Int64(leaves.count)))
        let start = leaves.startIndex
        return Merkle.nodeHash(naiveRoot(leaves[start..<(start + k)]), naiveRoot(leaves[(start + k)...]))
    }

    /// PATH(m, D[n]) straight from RFC 6962 §2.1.1.
    static func naivePath(_ m: Int, _ leaves: ArraySlice<Merkle.Hash>) -> [Merkle.Hash] {
        guard leaves.count > 1 else { return [] }
        let k = Int(Merkle.split(Int64(leaves.count)))
        let start = leaves.startIndex
        if m < k { return naivePath(m, leaves[start..<(start + k)]) + [naiveRoot(leaves[(start + k)...])] }
        return naivePath(m - k, leaves[(start + k)...]) + [naiveRoot(leaves[start..<(start + k)])]
    }

    /// SUBPROOF(m, D[n], b) straight from RFC 6962 §2.1.2.
    static func naiveSubproof(_ m: Int, _ leaves: ArraySlice<Merkle.Hash>, _ complete: Bool) -> [Merkle.Hash] {
        let n = leaves.count
        if m == n { return complete ? [] : [naiveRoot(leaves)] }
        let k = Int(Merkle.split(Int64(n)))
        let start = leaves.startIndex
        if m <= k { return naiveSubproof(m, leaves[start..<(start + k)], complete) + [naiveRoot(leaves[(start + k)...])] }
        return naiveSubproof(m - k, leaves[(start + k)...], false) + [naiveRoot(leaves[start..<(start + k)])]
    }

    /// Proofs as the database builds them: the ranges' hashes from stored complete nodes.
    static func stored(_ leaves: [Merkle.Hash]) -> [Merkle.Node: Merkle.Hash] {
        var frontier = MerkleFrontier()
        var nodes: [Merkle.Node: Merkle.Hash] = [:]
        for leaf in leaves {
            for (node, hash) in frontier.append(leaf: leaf) { nodes[node] = hash }
        }
        return nodes
    }

    static func randomLeaves(_ n: Int) -> [Merkle.Hash] {
        (0..<n).map { i in Merkle.leafHash(Array("leaf \(i) \(UInt64.random(in: 0...UInt64.max))".utf8)) }
    }

    @Test func rootsMatchTheRFC6962Vectors() throws {
        var frontier = MerkleFrontier()
        for (i, leaf) in Self.vectorLeaves.enumerated() {
            frontier.append(leaf: leaf)
            #expect(frontier.root == Self.vectorRoots[i], "root after \(i + 1) leaves")
            #expect(Self.naiveRoot(Self.vectorLeaves[0...i]) == Self.vectorRoots[i])
            let nodes = Self.stored(Array(Self.vectorLeaves[0...i]))
            #expect(try Merkle.hashes(for: [0..<Int64(i + 1)], from: nodes) == [Self.vectorRoots[i]])
        }
        #expect(Merkle.emptyRoot == Self.hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
    }

    @Test func inclusionProofsMatchTheRFC6962Vectors() throws {
        let nodes = Self.stored(Self.vectorLeaves)
        let vectors: [(Int64, Int64, [String])] = [
            (0, 1, []),
            (
                0, 8,
                [
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]
            ),
            (
                5, 8,
                [
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]
            ),
            (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        ]
        for (index, size, path) in vectors {
            let proof = try Merkle.hashes(for: Merkle.inclusionRanges(index: index, size: size), from: nodes)
            #expect(proof == path.map(Self.hex), "PATH(\(index), D[\(size)])")
            try MerkleVerifier.verifyInclusion(
                leafHash: Self.vectorLeaves[Int(index)], index: index, size: size, proof: proof, root: Self.vectorRoots[Int(size) - 1])
        }
    }

    @Test func consistencyProofsMatchTheRFC6962Vectors() throws {
        let nodes = Self.stored(Self.vectorLeaves)
        let vectors: [(Int64, Int64, [String])] = [
            (1, 1, []),
            (
                1, 8,
                [
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ]
            ),
            (
                6, 8,
                [
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ]
            ),
            (
                2, 5,
                [
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ]
            ),
        ]
        for (old, new, path) in vectors {
            let proof = try Merkle.hashes(for: Merkle.consistencyRanges(old: old, new: new), from: nodes)
            #expect(proof == path.map(Self.hex), "PROOF(\(old), D[\(new)])")
            try MerkleVerifier.verifyConsistency(
                oldSize: old, oldRoot: Self.vectorRoots[Int(old) - 1], newSize: new, newRoot: Self.vectorRoots[Int(new) - 1], proof: proof)
        }
    }

    /// Every way to bend a valid inclusion proof, each of which must be refused.
    static func inclusionMutations(_ proof: [Merkle.Hash]) -> [[Merkle.Hash]] {
        var mutations: [[Merkle.Hash]] = [proof + [Merkle.emptyRoot], proof + [proof.last ?? Merkle.emptyRoot]]
        if !proof.isEmpty {
            mutations.append(Array(proof.dropLast()))
            mutations.append(Array(proof.dropFirst()))
            mutations.append(proof.reversed())
            for i in proof.indices {
                var flipped = proof
                flipped[i][i % 32] ^= 0x01
                mutations.append(flipped)
                var short = proof
                short[i] = Array(short[i].dropLast())
                mutations.append(short)
            }
        }
        return mutations.filter { $0 != proof }
    }

    @Test func everyInclusionProofOfRandomTreesVerifiesAndNoMutationDoes() throws {
        for n in 1...70 {
            let leaves = Self.randomLeaves(n)
            let nodes = Self.stored(leaves)
            let root = Self.naiveRoot(leaves[...])
            for m in 0..<n {
                let proof = try Merkle.hashes(for: Merkle.inclusionRanges(index: Int64(m), size: Int64(n)), from: nodes)
                #expect(proof == Self.naivePath(m, leaves[...]), "PATH(\(m), D[\(n)])")
                try MerkleVerifier.verifyInclusion(leafHash: leaves[m], index: Int64(m), size: Int64(n), proof: proof, root: root)
                for mutated in Self.inclusionMutations(proof) {
                    #expect(throws: MerkleVerifier.Failure.self) {
                        try MerkleVerifier.verifyInclusion(leafHash: leaves[m], index: Int64(m), size: Int64(n), proof: mutated, root: root)
                    }
                }
                // Another leaf, index, size or root.
                let other = leaves[(m + 1) % n]
                if n > 1 {
                    #expect(throws: MerkleVerifier.Failure.self) {
                        try MerkleVerifier.verifyInclusion(leafHash: other, index: Int64(m), size: Int64(n), proof: proof, root: root)
                    }
                }
                // Another index, or one outside the tree. (A proof checks a leaf against a (size,
                // root) pair, which only a signed checkpoint makes trustworthy: a size with the
                // same path shape can pass, as in RFC 9162, and is not tried here.)
                for index in [m + 1, m - 1, n, -1] where index != m && !(index >= 0 && index < n && leaves[index] == leaves[m]) {
                    #expect(throws: MerkleVerifier.Failure.self, "index \(index) for PATH(\(m), D[\(n)])") {
                        try MerkleVerifier.verifyInclusion(
                            leafHash: leaves[m], index: Int64(index), size: Int64(n), proof: proof, root: root)
                    }
                }
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyInclusion(leafHash: leaves[m], index: Int64(m), size: 0, proof: proof, root: root)
                }
                var wrongRoot = root
                wrongRoot[0] ^= 0x80
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyInclusion(leafHash: leaves[m], index: Int64(m), size: Int64(n), proof: proof, root: wrongRoot)
                }
            }
        }
    }

    @Test func everyConsistencyProofOfRandomTreesVerifiesAndNoMutationDoes() throws {
        for n in 1...40 {
            let leaves = Self.randomLeaves(n)
            let nodes = Self.stored(leaves)
            let newRoot = Self.naiveRoot(leaves[...])
            for m in 0...n {
                let oldRoot = Self.naiveRoot(leaves[0..<m])
                let proof = try Merkle.hashes(for: Merkle.consistencyRanges(old: Int64(m), new: Int64(n)), from: nodes)
                if m > 0, m < n { #expect(proof == Self.naiveSubproof(m, leaves[...], true), "PROOF(\(m), D[\(n)])") }
                try MerkleVerifier.verifyConsistency(oldSize: Int64(m), oldRoot: oldRoot, newSize: Int64(n), newRoot: newRoot, proof: proof)
                guard m > 0 else { continue }
                for mutated in Self.inclusionMutations(proof) {
                    #expect(throws: MerkleVerifier.Failure.self, "mutated PROOF(\(m), D[\(n)])") {
                        try MerkleVerifier.verifyConsistency(
                            oldSize: Int64(m), oldRoot: oldRoot, newSize: Int64(n), newRoot: newRoot, proof: mutated)
                    }
                }
                // A rewritten history: another old root (a fork), or another new one.
                var forked = oldRoot
                forked[31] ^= 0x01
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyConsistency(
                        oldSize: Int64(m), oldRoot: forked, newSize: Int64(n), newRoot: newRoot, proof: proof)
                }
                var otherNew = newRoot
                otherNew[0] ^= 0x01
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyConsistency(
                        oldSize: Int64(m), oldRoot: oldRoot, newSize: Int64(n), newRoot: otherNew, proof: proof)
                }
                #expect(throws: MerkleVerifier.Failure.self) {
                    try MerkleVerifier.verifyConsistency(
                        oldSize: Int64(n + 1), oldRoot: oldRoot, newSize: Int64(n), newRoot: newRoot, proof: proof)
                }
            }
        }
    }

    @Test func frontierReloadsFromItsPeaks() throws {
        let leaves = Self.randomLeaves(45)
        var frontier = MerkleFrontier()
        let nodes = Self.stored(leaves)
        for (i, leaf) in leaves.enumerated() {
            frontier.append(leaf: leaf)
            let size = Int64(i + 1)
            let peaks = MerkleFrontier.peakNodes(size: size).map { nodes[$0]! }
            #expect(try MerkleFrontier(size: size, peakHashes: peaks) == frontier)
        }
        #expect(throws: MerkleVerifier.Failure.self) { try MerkleFrontier(size: 45, peakHashes: []) }
    }

    @Test func checkpointsSignAndVerify() throws {
        let key = try CheckpointKey.generate(name: "example.com/log")
        let root = Self.vectorRoots[7]
        let checkpoint = try Checkpoint.sign(size: 8, root: root, time: Date(timeIntervalSince1970: 1_700_000_000.123), key: key)
        #expect(
            checkpoint.note.hasPrefix(
                "example.com/log\n8\n\(Data(root).base64EncodedString())\ntime 1700000000123\n\n\u{2014} example.com/log "))
        let parsed = try Checkpoint(note: checkpoint.note, key: key.verifier)
        #expect(parsed.size == 8 && parsed.root == root && parsed.origin == "example.com/log")

        // The key round-trips in both C2SP encodings.
        #expect(try CheckpointKey(encoded: key.encoded).verifier == key.verifier)
        #expect(try CheckpointVerifierKey(encoded: key.verifier.description) == key.verifier)

        let other = try CheckpointKey.generate(name: "example.com/log")
        #expect(throws: Checkpoint.Problem.self) { try Checkpoint(note: checkpoint.note, key: other.verifier) }
        for (from, to) in [("\n8\n", "\n9\n"), ("time 1700000000123", "time 1700000000124"), ("example.com/log\n8", "example.org/log\n8")] {
            #expect(throws: Checkpoint.Problem.self, "\(from) → \(to)") {
                try Checkpoint(note: checkpoint.note.replacingOccurrences(of: from, with: to), key: key.verifier)
            }
        }
        for broken in [
            "", "\n\n", "a\nb\n", String(checkpoint.note.dropLast()), checkpoint.note + "junk", String(repeating: "x", count: 70_000),
        ] {
            #expect(throws: Checkpoint.Problem.self) { try Checkpoint(note: broken, key: key.verifier) }
        }
        for bad in [
            "", "a+b", "name+00000000+AAAA", "PRIVATE+KEY+x+00+AAAA",
            "with space+12345678+" + Data([1] + [UInt8](repeating: 0, count: 32)).base64EncodedString(),
        ] {
            #expect(throws: CheckpointVerifierKey.Problem.self) { try CheckpointVerifierKey(encoded: bad) }
        }
    }
}
