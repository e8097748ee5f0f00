"""mkdocs hook: publish the normative specs (spec/*.md, outside docs/) as pages under spec/,
so that the guides link to them and the site carries them, without a copy in docs/."""

from __future__ import annotations

import pathlib

from mkdocs.structure.files import File, Files

SPECS = ("cli.md", "streamer.md", "ss-format.md")


def on_files(files: Files, config) -> Files:  # type: ignore[no-untyped-def]
    root = pathlib.Path(config.config_file_path).parent / "spec"
    for name in SPECS:
        files.append(File.generated(config, f"spec/{name}", abs_src_path=str(root / name)))
    return files
