import Foundation

/// The room's banned words and phrases, matched on word boundaries after NFKC, case folding and
/// look-alike folding (so "B4D", "bаd" with a Cyrillic a, and "ＢＡＤ" all match "bad").
public struct BannedWordsRule: ModerationRule {
    public init() {}

    public func check(_ attempt: PostAttempt, _ context: ModerationContext) -> Refusal? {
        guard !context.settings.bannedWords.isEmpty else { return nil }
        let readings = [TextNormalizer.words(attempt.text), TextNormalizer.words(attempt.text, foldSymbols: false)]
        for banned in context.settings.bannedWords {
            let phrase = TextNormalizer.words(banned)
            guard !phrase.isEmpty else { continue }
            for words in readings where phrase.count <= words.count {
                for start in 0...(words.count - phrase.count) where Array(words[start..<(start + phrase.count)]) == phrase {
                    return Refusal(.bannedWord, "the message contains a word this chat does not allow; rephrase it")
                }
            }
        }
        return nil
    }
}
