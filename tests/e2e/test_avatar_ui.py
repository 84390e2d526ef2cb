"""A profile picture set on /me in real Chromium: chosen, previewed, uploaded, shown, removed;
a file that is no picture is refused in words."""

from __future__ import annotations

from playwright.async_api import Browser, FilePayload, expect

from server.infra.settings import Settings
from tests.e2e.conftest import artifact
from tests.e2e.test_office_ui import seeded, signed_in
from tests.pictures import encode

NO_PICTURE = "You have no picture: colleagues see your initials."


async def test_a_person_sets_and_removes_their_picture_on_me(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    await ada.goto(f"{base}/me")
    card = ada.get_by_role("region", name="Profile picture")
    await expect(card).to_be_visible()
    await expect(card.get_by_text(NO_PICTURE)).to_be_visible()
    upload = card.get_by_role("button", name="Use this picture")
    await expect(upload).to_be_disabled()

    # Something that is not a picture is refused before anything is sent.
    chooser = card.get_by_label("Choose a picture (PNG, JPEG or WebP)")
    await chooser.set_input_files(
        files=FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"hello")
    )
    await expect(card.get_by_role("status")).to_have_text(
        "“notes.txt” is not a PNG, JPEG or WebP picture. Choose one of those."
    )
    await expect(upload).to_be_disabled()

    # A wide PNG: previewed as the square colleagues will see, then uploaded.
    png = encode("png", 120, 80)
    await chooser.set_input_files(FilePayload(name="me.png", mimeType="image/png", buffer=png))
    preview = card.get_by_role("img", name="Preview of your new picture")
    await expect(preview).to_be_visible()
    assert await preview.evaluate("c => [c.width, c.height]") == [80, 80]
    await upload.click()
    await expect(card.get_by_role("status")).to_have_text(
        "Your new picture is set. Colleagues see it now."
    )
    await expect(chooser).to_be_focused()
    picture = card.get_by_role("img", name="Your profile picture")
    await expect(picture).to_be_visible()
    src = await picture.get_attribute("src")
    assert src is not None and src.startswith("/api/avatars/")
    # Drawn from what the server serves: an 80 by 80 picture, red on the left, blue on the right.
    await ada.wait_for_function(
        "() => { const i = document.getElementById('avatar-current');"
        " return i.complete && i.naturalWidth === 80 && i.naturalHeight === 80; }",
        timeout=10_000,
    )
    colours = await picture.evaluate(
        """i => { const c = document.createElement('canvas'); c.width = 80; c.height = 80;
                  const g = c.getContext('2d'); g.drawImage(i, 0, 0);
                  const at = (x) => [...g.getImageData(x, 40, 1, 1).data];
                  return [at(5), at(75)]; }"""
    )
    left, right = colours
    assert left[0] > 150 and left[2] < 80, left
    assert right[2] > 150 and right[0] < 80, right
    await ada.screenshot(path=artifact("me-avatar.png"), full_page=True)

    # The page shows it again after a reload; removing it brings the initials back.
    await ada.reload()
    await expect(picture).to_have_attribute("src", src)
    await card.get_by_role("button", name="Remove picture").click()
    await expect(card.get_by_role("status")).to_have_text(
        "Your picture is removed. Colleagues see your initials again."
    )
    await expect(picture).to_be_hidden()
    await expect(card.get_by_text(NO_PICTURE)).to_be_visible()
