"""Sphinx configuration: the guide's sources are in docs/, the samples in samples/."""

project = "Making it durable"
author = "The firstapp-durability contributors"
copyright = "2026, " + author

extensions = [
    "myst_parser",
    "sphinx_design",
    "sphinx_copybutton",
    "firstapp.notebooks.sphinx",
]
root_doc = "docs/index"
include_patterns = ["docs/**"]
# Maintainers' notes behind the chapter (what each SDK does and why), not pages of the guide.
exclude_patterns = ["docs/README.md", "docs/samples-notes.md", "docs/large-objects-notes.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = project
html_static_path: list[str] = []
copybutton_prompt_text = r"\$ "
copybutton_prompt_is_regexp = True
# alabaster caps the text at 800px by default, too narrow for 100-character sample lines
html_theme_options = {"page_width": "1240px", "sidebar_width": "230px", "body_max_width": "none"}

# Pictures of real fractals, rendered by the project's own renderer at build time.
GALLERY_SEEDS = (1, 2, 3, 4)


def render_gallery(app) -> None:
    import random
    from pathlib import Path

    from firstapp.fractals.params import random_params
    from firstapp.fractals.render import render_png

    out = Path(app.srcdir) / "docs" / "_generated"
    out.mkdir(exist_ok=True)
    for seed in GALLERY_SEEDS:
        params = random_params(random.Random(seed), width=320, height=240)
        (out / f"fractal-{seed}.png").write_bytes(render_png(params))


def setup(app) -> None:
    app.connect("builder-inited", render_gallery)
