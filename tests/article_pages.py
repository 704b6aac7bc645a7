"""Article pages for the tests of the article stage: our own words, in the layout of a news
site (a menu, the headline, the story, a "related" box, a footer)."""

from __future__ import annotations

from html import escape

# Paragraphs that fill a story out, as the rest of a news article does.
FILLER = (
    "Officials on both sides described the meetings as businesslike and said working "
    "groups would continue their discussions over the coming weeks.",
    "Trade between the two countries has grown steadily since the border crossings were "
    "reopened, according to figures published by the customs service.",
    "Analysts in the region said the announcement was closely watched by neighbouring "
    "governments, several of which have kept their own contacts at a lower level.",
    "The delegation is expected to travel on to two other capitals before returning home "
    "at the end of the week.",
)
# The box beside the story: its links name other events, which the article does not report.
RELATED = (
    "Opinion: why Moldavia will never recognise the Taliban government",
    "Borduria hands the Afghan embassy to the Taliban, diplomats say",
)


def article_page(headline: str, paragraphs: list[str] | tuple[str, ...],
                 filler: bool = True) -> bytes:
    """An article page whose story is ``paragraphs`` (then, with ``filler``, a few more)."""
    body = [*paragraphs, *(FILLER if filler else ())]
    story = "\n".join(f"<p>{escape(p)}</p>" for p in body)
    related = "\n".join(f'<li><a href="/related/{n}">{escape(t)}</a></li>'
                        for n, t in enumerate(RELATED))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(headline)} | The Daily Courier</title>
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li></ul></nav></header>
<main>
<article>
<h1>{escape(headline)}</h1>
<p class="byline">By our correspondent, 3 July</p>
{story}
</article>
<aside class="related"><h2>Related stories</h2><ul>
{related}
</ul></aside>
</main>
<footer><p>Copyright The Daily Courier. All rights reserved.</p>
<p><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></p></footer>
</body></html>""".encode()
