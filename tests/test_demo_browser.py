"""The demo page in a real browser: one complaint from a parent's first message to the staff's reply and
resolution, played through the page as a visitor would (headless Chromium, driven by playwright), against
the real bot on the demo's local Bot API server. Every check reads what the page shows.

Debian's chromium is used (playwright's own browser downloads never are); without it the test is skipped.
``DEMO_SCREENSHOT=docs/demo.png`` also saves the page mid-conversation (how docs/demo.png was made).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from devserver.demo import DemoWorld, demo_bot, demo_schools, demo_world

from bot.nlu.client import InProcessNlu
from devserver import tiny_png

playwright = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed: `uv sync` installs the dev dependencies"
)
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no browser: {CHROMIUM} is missing (install Debian's chromium: `apt-get install chromium`; "
    "`make test` does so when run as root), or set CHROMIUM to a Chromium binary",
)
ANSWER = 20_000
"""Milliseconds a step may take before the page counts as broken: the bot's answer, or a card delivery."""
FORUM_CHAT = -1001000000001
PLAIN_CHAT = -4000000003


@pytest.fixture
async def demo(nlu: InProcessNlu, tmp_path: Path) -> AsyncIterator[DemoWorld]:
    schools = demo_schools()
    async with (
        demo_world(schools) as world,
        demo_bot(world, schools, tmp_path / "demo.db", nlu=nlu),
    ):
        yield world


@pytest.fixture
async def page(demo: DemoWorld) -> AsyncIterator[playwright.Page]:
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            opened = await browser.new_page(viewport={"width": 1440, "height": 900})
            await opened.goto(f"{demo.server.url}/")
            yield opened
        finally:
            await browser.close()


async def test_a_complaint_from_first_message_to_resolution_through_the_page(page: playwright.Page) -> None:
    expect = playwright.expect
    phone = page.locator("#phone")
    chat = page.locator("#phone-messages")
    staff = page.locator(f'section[data-chat-id="{FORUM_CHAT}"]')
    await expect(page.locator("#status")).to_have_text("live")

    async def parent_says(text: str) -> None:
        await phone.get_by_label("Message").fill(text)
        await phone.get_by_role("button", name="Send").click()

    async def parent_taps(title: str) -> None:
        button = chat.get_by_role("button", name=title, exact=True).last
        await expect(button).to_be_enabled(timeout=ANSWER)
        await button.click()

    await parent_says(
        "I want to make a formal complaint: my daughter was excluded for two days "
        "without anyone calling me first."
    )
    gate = chat.get_by_role("button", name="No, it's not urgent")
    offer = chat.get_by_role("button", name="Yes, pass it on")
    await expect(gate.or_(offer).last).to_be_visible(timeout=ANSWER)
    if await gate.count():  # the safeguarding gate may first ask whether a child is at risk now
        await parent_taps("No, it's not urgent")
    await expect(chat).to_contain_text("complaints policy", timeout=ANSWER)
    await expect(chat).to_contain_text("I've noted your message as the description", timeout=ANSWER)
    await parent_taps("Yes, pass it on")
    await expect(chat).to_contain_text("Which school is your child at?", timeout=ANSWER)
    await parent_taps("Oakfield Primary School")
    await expect(chat).to_contain_text("about the head teacher or the trust", timeout=ANSWER)
    await parent_taps("Something else")
    await expect(chat).to_contain_text("Who should staff ask for?", timeout=ANSWER)
    await parent_taps("Skip")
    await parent_taps("Reply in this chat")
    await expect(chat).to_contain_text("without anyone calling me first", timeout=ANSWER)
    await parent_taps("Yes, send it")
    sent = chat.locator(".msg", has_text=re.compile(r"\bOAK-[A-Z0-9]{4}\b")).last
    await expect(sent).to_be_visible(timeout=ANSWER)
    found = re.search(r"\bOAK-[A-Z0-9]{4}\b", await sent.inner_text())
    assert found is not None
    reference = found.group(0)

    posted = staff.locator(".msg", has_text=reference).filter(has=page.get_by_role("button", name="Claim"))
    await expect(posted).to_contain_text("without anyone calling me first", timeout=ANSWER)
    card = staff.locator(f'.msg[data-message-id="{await posted.get_attribute("data-message-id")}"]')
    await expect(staff.locator(".topic.active")).to_contain_text(reference)
    await card.get_by_role("button", name="Claim").click()
    await expect(page.locator("#toast")).to_contain_text(f"You've claimed case {reference}", timeout=ANSWER)
    await expect(chat).to_contain_text(f"are looking at your case {reference}", timeout=ANSWER)
    await expect(card).to_contain_text("Claimed by Priya Patel", timeout=ANSWER)
    await expect(card.locator(".edited")).to_be_visible()

    await card.hover()
    await card.get_by_text("↩ Reply").click()
    await expect(staff.locator(".replying")).to_contain_text("Replying to Parent Helper")
    await staff.get_by_label("Message").fill("I'm sorry nobody called. I'll ring you at 3pm today.")
    await staff.get_by_role("button", name="Send").click()
    await expect(chat).to_contain_text("I'll ring you at 3pm today.", timeout=ANSWER)
    await expect(staff).to_contain_text(f"Sent to the parent (case {reference})", timeout=ANSWER)
    plain = page.locator(f'section[data-chat-id="{PLAIN_CHAT}"]')
    await plain.get_by_role("button", name="/cases").click()
    await plain.get_by_role("button", name="Send").click()
    await expect(plain).to_contain_text("No open cases for Riverside Academy.", timeout=ANSWER)
    if os.environ.get("DEMO_SCREENSHOT"):
        await expect(page.locator("#toast")).to_be_hidden(timeout=ANSWER)  # the toast would hide a title
        await page.screenshot(path=os.environ["DEMO_SCREENSHOT"])

    await card.get_by_role("button", name="Resolve").click()
    await expect(chat).to_contain_text(f"marked your case {reference} as resolved", timeout=ANSWER)
    await expect(card).to_contain_text("Status: Resolved", timeout=ANSWER)
    await expect(card.get_by_role("button")).to_have_count(0)
    await expect(staff.locator(".topic.active")).to_contain_text("(closed)")
    await staff.locator(".topic", has_text="General").click()  # members cannot write in a closed topic
    await staff.get_by_label("Message").fill("/stats")
    await staff.get_by_role("button", name="Send").click()
    await expect(staff).to_contain_text("Opened: 1", timeout=ANSWER)


async def test_a_parent_chosen_on_the_page_sends_a_photo_and_sees_it_and_the_answer(
    page: playwright.Page, demo: DemoWorld
) -> None:
    expect = playwright.expect
    chat = page.locator("#phone-messages")
    dee = next(parent for parent in demo.parents if parent.first_name == "Dee")
    await page.get_by_label("Whose chat").select_option(label="Dee Khan")
    await expect(page.locator("#phone-composer")).to_have_attribute("data-user-id", str(dee.id))
    await page.locator("#phone input[type=file]").set_input_files(
        files=[{"name": "screenshot.png", "mimeType": "image/png", "buffer": tiny_png(120, 80)}]
    )

    explained = "only keep photos as evidence inside a bullying report"
    await expect(chat).to_contain_text(explained, timeout=ANSWER)
    shown = chat.locator(".msg.out img.photo")
    await expect(shown).to_have_count(1)
    assert await shown.evaluate("image => image.complete && image.naturalWidth") == 120
    assert "photo" in demo.server.chat_log(dee.id)[0], "the photo came from Dee, the parent chosen"


async def test_a_parent_edits_a_message_on_the_page_and_the_bot_answers_the_new_text(
    page: playwright.Page,
) -> None:
    expect = playwright.expect
    phone = page.locator("#phone")
    chat = page.locator("#phone-messages")
    await phone.get_by_label("Message").fill("hiya")
    await phone.get_by_role("button", name="Send").click()
    written = chat.locator(".msg.out", has_text="hiya")
    await expect(chat.locator(".msg.in")).not_to_have_count(0, timeout=ANSWER)
    code = chat.locator(".msg.in", has_text='(Code: "')
    await expect(code).to_have_count(0)

    await written.hover()
    await written.get_by_text("Edit").click()
    await expect(phone.locator(".replying")).to_contain_text("Editing: hiya")
    await phone.get_by_label("Message").fill("what is the social media code about")
    await phone.get_by_role("button", name="Send").click()

    edited = chat.locator(".msg.out", has_text="what is the social media code about")
    await expect(edited.locator(".edited")).to_be_visible(timeout=ANSWER)
    await expect(code).not_to_have_count(0, timeout=ANSWER)
