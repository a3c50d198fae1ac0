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
exclude_patterns = ["docs/README.md", "docs/samples-notes.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = project
html_static_path: list[str] = []
copybutton_prompt_text = r"\$ "
copybutton_prompt_is_regexp = True
html_theme_options = {"page_width": "1240px", "sidebar_width": "230px"}
