import Foundation

/// The text forms moderation compares: NFKC, case-folded, look-alikes folded, split into words.
public enum TextNormalizer {
    /// NFKC, as stored and counted (the 500-character limit applies to this form).
    public static func nfkc(_ text: String) -> String { text.precomposedStringWithCompatibilityMapping }

    /// Common substitutions people use to dodge word filters (leetspeak, Cyrillic and Greek
    /// letters that look Latin).
    static let lookalikes: [Character: Character] = [
        "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t",
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ո": "n",
        "α": "a", "ο": "o", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    ]

    /// Words for matching: NFKC, lower-cased, look-alikes folded, split on everything that is
    /// neither a letter nor a digit (nor, with `foldSymbols`, a look-alike symbol such as "@"
    /// or "!"; without it those separate words, so "word!" is still "word").
    public static func words(_ text: String, foldSymbols: Bool = true) -> [String] {
        var words: [String] = []
        var current = ""
        for character in nfkc(text).lowercased() {
            if let folded = lookalikes[character], foldSymbols || character.isLetter || character.isNumber {
                current.append(folded)
            } else if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Host names of the links in `text`: `scheme://host…`, `www.host…`, or a bare `name.tld`.
    public static func linkHosts(_ text: String) -> [String] {
        var hosts: [String] = []
        for piece in nfkc(text).lowercased().split(whereSeparator: { $0.isWhitespace }) {
            var rest = Substring(piece.trimmingCharacters(in: CharacterSet(charactersIn: "()[]<>\"',;!?")))
            var explicit = false
            if let range = rest.range(of: "://") {
                rest = rest[range.upperBound...]
                explicit = true
            }
            let host = rest.prefix { $0 != "/" && $0 != ":" && $0 != "?" && $0 != "#" }
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } })
            else {
                if explicit, !host.isEmpty { hosts.append(host) }
                continue
            }
            // A bare word.word counts only when the last label looks like a top-level domain.
            guard explicit || host.hasPrefix("www.") || (labels.last.map { $0.count >= 2 && $0.allSatisfy(\.isLetter) } ?? false) else {
                continue
            }
            hosts.append(host)
        }
        return hosts
    }

    /// Whether `host` is `domain` or one of its subdomains.
    public static func host(_ host: String, isWithin domain: String) -> Bool {
        let domain = domain.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return host == domain || host.hasSuffix("." + domain)
    }
}
