#!/usr/bin/env python3
"""The console and the watch page in real headless Chromium, driven by Selenium.

Run by ConsoleBrowserTests against a `streamd serve` it started: signs in, creates a channel,
publishes to it with ffmpeg, watches the session appear on the overview, opens the session page
and its quality chart, plays /watch/CHANNEL in a second browser and chats there, moderates that
message from the console, kicks the stream, reads the report, the channel and audit pages, and
signs out. Saves a screenshot of every page to the artifacts folder. Prints one JSON line of
figures and exits 0, or prints what failed and exits 1.

usage: console_flow.py BASE_URL ADMIN_TOKEN RTMP_PORT ARTIFACTS_DIR
"""
import json
import os
import subprocess
import sys
import time

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "ops", "bench", "llhls"))
import common  # noqa: E402  (headless Chromium)

base, token, rtmp_port, artifacts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.makedirs(artifacts, exist_ok=True)
channel = f"console-{int(time.time()) % 100000}"
figures = {"channel": channel}


def browser():
    driver = common.chromium(window_size="1400,1000")
    driver.set_page_load_timeout(30)
    return driver


def wait(driver, condition, seconds=20, what="the page"):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)
    except TimeoutException:
        shot(driver, "failure")
        raise AssertionError(f"timed out after {seconds} s waiting for {what} on {driver.current_url}")


def shot(driver, name):
    """The whole page: the window grows to the document's height for the picture."""
    path = os.path.join(artifacts, f"{name}.png")
    height = driver.execute_script("return Math.min(4000, Math.max(1000, document.documentElement.scrollHeight))")
    driver.set_window_size(1400, height)
    driver.save_screenshot(path)
    driver.set_window_size(1400, 1000)
    figures.setdefault("screenshots", []).append(path)


def text(driver, css):
    """The text of the first match, read in the page: live parts are redrawn under Selenium's feet."""
    return driver.execute_script("const node = document.querySelector(arguments[0]); return node ? node.innerText : ''", css)


def page_errors(driver):
    """Console errors of the page (CSP violations, exceptions), as Chromium logged them."""
    try:
        # Answers such as the playlist's 404 while offline are expected; scripts and CSP must be clean.
        return [entry["message"] for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]
    except Exception:
        return []


admin = browser()
viewer = None
publisher = None
try:
    # Sign in.
    admin.get(base + "/admin")
    wait(admin, EC.presence_of_element_located((By.ID, "token")), what="the sign-in form")
    shot(admin, "01-sign-in")
    admin.find_element(By.ID, "token").send_keys(token)
    admin.find_element(By.ID, "sign-in").click()
    wait(admin, EC.presence_of_element_located((By.ID, "live-sessions")), what="the overview")
    cookie = admin.get_cookie("streamd_console")
    assert cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", f"session cookie: {cookie}"

    # Create a channel; its key is shown once.
    admin.get(base + "/admin/channels")
    wait(admin, EC.presence_of_element_located((By.ID, "new-channel")))
    admin.find_element(By.ID, "new-channel").send_keys(channel)
    admin.find_element(By.CSS_SELECTOR, "#create-channel button").click()
    key = wait(admin, EC.presence_of_element_located((By.ID, "stream-key")), what="the new key").text
    assert key.startswith("sk_"), key
    wait(admin, EC.presence_of_element_located((By.LINK_TEXT, channel)), what="the channel in the list")
    shot(admin, "02-channels")

    # Publish; the session appears on the overview (fed by the projection, not polled).
    admin.get(base + "/admin")
    wait(admin, EC.presence_of_element_located((By.ID, "live-sessions")))
    started = time.monotonic()
    publisher = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "120", "-c:v", "libx264", "-preset", "ultrafast",
         "-tune", "zerolatency", "-g", "60", "-bf", "0", "-c:a", "aac", "-b:a", "96k", "-f", "flv",
         f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Read in the page: the feed redraws the cards, so a Selenium reference to one goes stale.
    session_id = wait(admin, lambda d: d.execute_script(
        "const card = document.querySelector(arguments[0]); return card && card.dataset.session", f'[data-channel="{channel}"]'),
        30, "the live session's card")
    figures["overview_card_seconds_after_publish"] = round(time.monotonic() - started, 2)
    wait(admin, lambda d: text(d, f'[data-channel="{channel}"] [data-figure="health"]') not in ("", "—"), 30, "the health score")
    wait(admin, lambda d: "kbit/s" in text(d, f'[data-channel="{channel}"] [data-figure="bitrate"]')
         or "Mbit/s" in text(d, f'[data-channel="{channel}"] [data-figure="bitrate"]'), 20, "the ingest bitrate")
    figures["overview_health"] = text(admin, f'[data-channel="{channel}"] [data-figure="health"]')
    figures["overview_viewers_before"] = text(admin, f'[data-channel="{channel}"] [data-figure="viewers"]')

    # A viewer on /watch: the video plays, and the viewer joins the chat and posts.
    viewer = browser()
    viewer.get(f"{base}/watch/{channel}")
    video = wait(viewer, EC.presence_of_element_located((By.ID, "player")), 40, "the player")
    state = "const v = document.getElementById('player'); return [v.readyState, v.networkState, v.currentTime, v.videoWidth, v.error && v.error.message]"
    try:
        wait(viewer, lambda d: d.execute_script("const v = document.getElementById('player'); return v && v.currentTime > 2 && v.videoWidth > 0"),
             60, "the video to play 2 s")
    except AssertionError as failure:
        raise AssertionError(f"{failure}; the player's readyState, networkState, currentTime, videoWidth, error: {viewer.execute_script(state)}")
    first = viewer.execute_script("return document.getElementById('player').currentTime")
    time.sleep(2)
    second = viewer.execute_script("return document.getElementById('player').currentTime")
    assert second > first, f"currentTime stood still: {first} then {second}"
    quality = viewer.execute_script("const q = document.getElementById('player').getVideoPlaybackQuality(); return [q.totalVideoFrames, q.droppedVideoFrames]")
    figures["watch_frames_decoded"] = quality[0]
    assert quality[0] > 30, f"frames decoded: {quality}"
    viewer.find_element(By.ID, "chat-name").send_keys("viewer1")
    viewer.find_element(By.ID, "chat-join").click()
    wait(viewer, EC.presence_of_element_located((By.ID, "chat-text")), what="the chat input")
    wait(viewer, lambda d: "You chat as viewer1" in text(d, "#chat-log"), 15, "the chat to identify the viewer")
    message = f"hello from the watch page {int(time.time())}"
    viewer.find_element(By.ID, "chat-text").send_keys(message)
    viewer.find_element(By.ID, "chat-send").click()
    wait(viewer, lambda d: message in text(d, "#chat-log"), 15, "the viewer's own message")
    shot(viewer, "03-watch")

    # The session page: figures, the quality chart, renditions.
    admin.get(f"{base}/admin/sessions/{session_id}")
    wait(admin, EC.presence_of_element_located((By.CSS_SELECTOR, "#chart-bitrate polyline")), 30, "the bitrate chart")
    wait(admin, EC.presence_of_element_located((By.ID, "rendition-log")))
    shot(admin, "04-session")

    # Chat moderation: the console sees the viewer's message and deletes it; the viewer sees it go.
    admin.get(f"{base}/admin/chat/{channel}")
    line = wait(admin, EC.presence_of_element_located((By.XPATH, f'//div[@id="chat-log"]//span[@class="text" and text()="{message}"]/..')),
                20, "the viewer's message in the console")
    wait(admin, lambda d: '"slowModeSeconds"' in d.execute_script("return document.getElementById('chat-settings').value"), 15,
         "the room's settings in their editor")
    shot(admin, "05-chat-before")
    admin.find_element(By.ID, "moderation-reason").send_keys("testing moderation")
    line.find_element(By.CSS_SELECTOR, "button.delete").click()
    wait(viewer, lambda d: message not in text(d, "#chat-log"), 15, "the deleted message to leave the watch page")
    wait(admin, lambda d: "ChatMessageDeleted" in text(d, "#moderation-log"), 15, "the ChatMessageDeleted event in the console")
    shot(admin, "06-chat-after")

    # The overview counts the viewer (AudienceSampled, every 10 s at most).
    admin.get(base + "/admin")
    wait(admin, lambda d: text(d, f'[data-channel="{channel}"] [data-figure="viewers"]') not in ("", "0"), 40, "a viewer on the overview")
    figures["overview_viewers"] = text(admin, f'[data-channel="{channel}"] [data-figure="viewers"]')
    shot(admin, "07-overview")

    # The channel page and the audit page, while the stream is live.
    admin.get(f"{base}/admin/channels/{channel}")
    wait(admin, EC.presence_of_element_located((By.CSS_SELECTOR, "#channel-events tbody tr")), 20, "the channel's events")
    wait(admin, EC.presence_of_element_located((By.CSS_SELECTOR, "#channel-sessions tr")), 20, "the channel's sessions")
    shot(admin, "08-channel")
    admin.get(f"{base}/admin/audit?stream=session-{session_id}")
    wait(admin, lambda d: "StreamStarted" in text(d, "#audit-results"), 20, "the session's StreamStarted in the audit")
    wait(admin, lambda d: "verified" in text(d, "#verify-status"), 30, "the hash chain's verification")
    shot(admin, "09-audit")

    # Kick with a reason; the session page turns into the post-stream report.
    admin.get(f"{base}/admin/sessions/{session_id}")
    wait(admin, EC.visibility_of_element_located((By.ID, "kick-reason")))
    admin.find_element(By.ID, "kick-reason").send_keys("end of the browser test")
    admin.find_element(By.ID, "kick-button").click()
    wait(admin, EC.presence_of_element_located((By.CSS_SELECTOR, "#report .figures")), 40, "the post-stream report")
    shot(admin, "10-report")

    # Sign out: the console asks for the token again.
    admin.find_element(By.ID, "sign-out").click()
    wait(admin, EC.presence_of_element_located((By.ID, "token")), what="the sign-in form after signing out")
    admin.get(base + "/admin/audit")
    wait(admin, EC.presence_of_element_located((By.ID, "token")), what="the sign-in form for a signed-out user")

    errors = page_errors(admin) + (page_errors(viewer) if viewer else [])
    assert not errors, f"the pages logged errors: {errors}"
    print(json.dumps(figures))
except AssertionError as failure:
    print(f"FAILED: {failure}")
    print(json.dumps(figures))
    sys.exit(1)
finally:
    if publisher:
        publisher.kill()
    admin.quit()
    if viewer:
        viewer.quit()
