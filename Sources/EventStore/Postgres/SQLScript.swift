import Foundation

/// Splits a SQL script into statements, because PostgresNIO's extended protocol takes one
/// statement per query. Understands `--` and `/* */` comments, single- and double-quoted text, and
/// dollar quoting (`$$ … $$`, `$tag$ … $tag$`), so function bodies stay whole.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0
        var hasContent = false

        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if hasContent, !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            hasContent = false
        }

        while index < chars.count {
            let c = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            if c == "-", next == "-" {
                while index < chars.count, chars[index] != "\n" { index += 1 }
                continue
            }
            if c == "/", next == "*" {
                index += 2
                var depth = 1
                while index < chars.count, depth > 0 {
                    if chars[index] == "*", index + 1 < chars.count, chars[index + 1] == "/" {
                        depth -= 1; index += 2
                    } else if chars[index] == "/", index + 1 < chars.count, chars[index + 1] == "*" {
                        depth += 1; index += 2
                    } else {
                        index += 1
                    }
                }
                current.append(" ")
                continue
            }
            if c == "'" || c == "\"" {
                let quote = c
                current.append(c)
                index += 1
                while index < chars.count {
                    current.append(chars[index])
                    if chars[index] == quote {
                        if index + 1 < chars.count, chars[index + 1] == quote {
                            current.append(chars[index + 1])
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    index += 1
                }
                hasContent = true
                continue
            }
            if c == "$", let tagEnd = dollarTagEnd(chars, from: index) {
                let tag = Array(chars[index...tagEnd])
                current.append(contentsOf: tag)
                index = tagEnd + 1
                while index < chars.count {
                    if chars[index] == "$", index + tag.count <= chars.count, Array(chars[index..<index + tag.count]) == tag {
                        current.append(contentsOf: tag)
                        index += tag.count
                        break
                    }
                    current.append(chars[index])
                    index += 1
                }
                hasContent = true
                continue
            }
            if c == ";" {
                flush()
                index += 1
                continue
            }
            current.append(c)
            if !c.properties.isWhitespace { hasContent = true }
            index += 1
        }
        flush()
        return statements
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `start`, if it is one.
    private static func dollarTagEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        if start > 0 {
            let previous = chars[start - 1]
            if previous.properties.isAlphabetic || ("0"..."9").contains(previous) || previous == "_" { return nil }
        }
        var index = start + 1
        while index < chars.count {
            let c = chars[index]
            if c == "$" { return index }
            guard c.properties.isAlphabetic || c == "_" || (index > start + 1 && ("0"..."9").contains(c)) else { return nil }
            index += 1
        }
        return nil
    }
}
