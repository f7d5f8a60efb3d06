"""One module per report section; each `build` returns a document.Section (blocks and facts)."""
