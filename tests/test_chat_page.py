"""The web chat page: served at /chat, self-contained, and it never renders server text as HTML."""

import re


def test_chat_page_is_self_contained(client):
    page = client.get("/chat")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<textarea" in html and 'fetch("agent"' in html and "Confirm" in html and "Cancel" in html
    # No external fonts, scripts, styles or images: the service may run without internet.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    # Server texts go in as text: a reply carrying <script> shows as text, never runs.
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert 'name="viewport"' in html  # usable on a phone's width


def test_root_leads_to_the_chat_page(client):
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code in (302, 307) and answer.headers["location"] == "/chat"
    assert "/chat" not in client.get("/openapi.json").json()["paths"]
