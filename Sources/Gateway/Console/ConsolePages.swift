import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTML shells of the console and the public pages. Everything they show beyond the shell is
/// drawn by their ES module from the REST API, so the server renders no data but names.
enum ConsolePages {
    /// Scripts and styles from this origin only; media from it or a blob (hls.js's MediaSource).
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; script-src 'self'; "
        + "style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

    static func headers(contentType: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return headers
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: headers(contentType: "text/html; charset=utf-8"),
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status, headers: headers(contentType: "text/plain; charset=utf-8"),
            body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    static func redirect(to location: String) -> Response {
        var headers = headers(contentType: "text/plain; charset=utf-8")
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func document(title: String, body: String, head: String = "", bodyAttributes: String = "") -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) · streamd</title>
        <link rel="stylesheet" href="/assets/console.css">
        \(head)
        </head>
        <body\(bodyAttributes)>
        \(body)
        </body>
        </html>
        """
    }

    static func console(page: String, title: String, argument: String?, csrf: String) -> String {
        let navigation = [("/admin", "Overview"), ("/admin/channels", "Channels"), ("/admin/audit", "Audit")]
            .map { "<a href=\"\($0.0)\">\($0.1)</a>" }.joined()
        return document(
            title: title + (argument.map { " \($0)" } ?? ""),
            body: """
                <header class="bar">
                  <a class="brand" href="/admin">streamd</a>
                  <nav>\(navigation)</nav>
                  <form method="post" action="/admin/logout" class="signout">
                    <input type="hidden" name="csrf" value="\(escape(csrf))">
                    <button type="submit" id="sign-out">Sign out</button>
                  </form>
                </header>
                <main id="main" aria-live="polite"><p class="muted">Loading…</p></main>
                <script type="module" src="/assets/console.js"></script>
                """,
            head: "<meta name=\"csrf-token\" content=\"\(escape(csrf))\">",
            bodyAttributes: " data-page=\"\(escape(page))\" data-arg=\"\(escape(argument ?? ""))\"")
    }

    static func login(nonce: String, next: String, problem: String?) -> String {
        document(
            title: "Sign in",
            body: """
                <main class="signin">
                  <h1>streamd console</h1>
                  \(problem.map { "<p class=\"problem\" role=\"alert\">\(escape($0))</p>" } ?? "")
                  <form method="post" action="/admin/login">
                    <label for="token">Admin token</label>
                    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
                    <input type="hidden" name="nonce" value="\(escape(nonce))">
                    <input type="hidden" name="next" value="\(escape(next))">
                    <button type="submit" id="sign-in">Sign in</button>
                  </form>
                  <p class="muted">The token is in the data folder's <code>admin-token</code> file unless serve was given one.</p>
                </main>
                """)
    }

    static func watch(channel: String) -> String {
        document(
            title: channel,
            body: """
                <header class="bar"><a class="brand" href="/">streamd</a><span class="channel-name">\(escape(channel))</span></header>
                <main class="watch" id="main"><p class="muted">Loading…</p></main>
                <script type="module" src="/assets/watch.js"></script>
                """,
            bodyAttributes: " data-page=\"watch\" data-channel=\"\(escape(channel))\"")
    }

    static func index(live: [String]) -> String {
        let items =
            live.isEmpty
            ? "<p class=\"muted\" id=\"nothing-live\">Nothing is live right now.</p>"
            : "<ul class=\"live-list\">"
                + live.map {
                    "<li><a href=\"/watch/\(escape($0))\"><img src=\"/live/\(escape($0))/thumbnail.jpg\" alt=\"\" loading=\"lazy\">"
                        + "<span>\(escape($0))</span></a></li>"
                }.joined() + "</ul>"
        return document(
            title: "Live",
            body: """
                <header class="bar"><a class="brand" href="/">streamd</a></header>
                <main class="index"><h1>Live now</h1>\(items)</main>
                """)
    }
}
