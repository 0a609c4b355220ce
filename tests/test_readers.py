"""bot.readers: finding document files and reading them into plain text, one paragraph per line."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The repository has no pytest config putting its root on sys.path; make `import bot` work from any cwd.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.errors import BotError
from bot.readers import SUPPORTED_SUFFIXES, UnsupportedDocument, discover, display_name, one_line, read_text

TRADITIONAL = "中原消費金融上門催收\n催收人員不得採取騷擾、威脅等不當手段。"
SIMPLIFIED = "中原消费金融上门催收\n催收人员不得采取骚扰、威胁等不当手段。"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- discover


def test_discover_expands_directories_recursively_sorted_and_skips_hidden(tmp_path):
    write(tmp_path, "b.txt", "b")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "a.md", "a")
    write(tmp_path, ".hidden.txt", "h")
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git", "config.txt", "x")

    files, warnings = discover([tmp_path])

    assert files == [tmp_path / "b.txt", tmp_path / "sub" / "a.md"]
    assert warnings == []


def test_discover_warns_about_missing_paths_and_unsupported_types(tmp_path):
    doc = write(tmp_path, "notes.txt", "x")
    image = write(tmp_path, "photo.jpg", b"\xff\xd8")
    missing = tmp_path / "nope.txt"

    files, warnings = discover([doc, image, missing])

    assert files == [doc]
    assert any("photo.jpg" in w and "unsupported" in w for w in warnings)
    assert any("nope.txt" in w and "no such file" in w for w in warnings)


def test_discover_lists_a_file_once(tmp_path):
    doc = write(tmp_path, "a.txt", "x")
    files, _ = discover([doc, tmp_path])
    assert files == [doc]


def test_discover_skips_a_link_to_a_file_outside_the_folder_and_names_it(tmp_path):
    outside = write(tmp_path, "secret.txt", "password")
    docs = tmp_path / "docs"
    docs.mkdir()
    real = write(docs, "real.txt", "x")
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "secret.txt").symlink_to(outside)
    (docs / "alias.txt").symlink_to(real)  # a link that stays inside the folder is fine

    files, warnings = discover([docs])

    assert files == [docs / "alias.txt"]  # the same file as real.txt, listed once
    assert any("passwd.txt" in w and "outside" in w for w in warnings)
    assert any("secret.txt" in w and "outside" in w for w in warnings)


def test_discover_skips_a_linked_folder_that_leads_outside(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere", "private.txt", "x")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    files, _ = discover([docs])

    assert files == []


def test_discover_indexes_a_link_the_operator_names(tmp_path):
    outside = write(tmp_path, "notes.txt", "x")
    (tmp_path / "docs").mkdir()
    link = tmp_path / "docs" / "notes.txt"
    link.symlink_to(outside)

    files, warnings = discover([link])

    assert files == [link] and warnings == []


@pytest.mark.parametrize(
    "name, shown",
    [
        ("000_01385be25ace5660.txt", "000_01385be25ace5660.txt"),
        ("催收 規範.md", "催收 規範.md"),
        ("a\nb.txt", "a\\u000ab.txt"),
        ("\x1b[31mred.txt", "\\u001b[31mred.txt"),
        ("caf\udce9.txt", "caf\\xe9.txt"),  # the bytes b"caf\xe9.txt", as os.fsdecode gives them
        ("back\\slash.txt", "back\\\\slash.txt"),  # doubled, so no two names look the same
    ],
)
def test_display_name_is_one_printable_line_and_leaves_ordinary_names_alone(name, shown):
    assert display_name(name) == shown
    display_name(name).encode("utf-8")


def test_one_line_escapes_line_breaks_and_escape_codes_but_not_backslashes():
    assert one_line("a\nb\x1b[0m \\x") == "a\\u000ab\\u001b[0m \\x"


def test_unsupported_document_messages_are_one_line(tmp_path):
    path = write(tmp_path, "evil\nname.txt", b"")
    with pytest.raises(UnsupportedDocument) as error:
        read_text(path)
    assert "\n" not in str(error.value) and "evil\\u000aname.txt" in str(error.value)


def test_discover_finds_the_shipped_documents():
    files, warnings = discover([DOCS])
    assert len(files) == 5 + 33 and warnings == []  # the five articles and the law pack in docs/laws/
    assert sum(f.suffix == ".md" and "laws" in f.parts for f in files) == 33


# --------------------------------------------------------------------------- plain text and encodings


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("utf-8", TRADITIONAL),
        ("utf-8-sig", TRADITIONAL),  # with BOM: the BOM does not leak into the text
        ("gb18030", SIMPLIFIED),
        ("gb18030", TRADITIONAL),  # GB18030 covers Traditional characters too
        ("big5", TRADITIONAL),
        ("utf-16", TRADITIONAL),  # with BOM
    ],
)
def test_text_files_decode_in_their_encoding(tmp_path, encoding, text):
    path = write(tmp_path, "doc.txt", text.encode(encoding))
    assert read_text(path) == text


def test_big5_is_not_mistaken_for_gb18030_even_though_gb18030_accepts_the_bytes(tmp_path):
    data = TRADITIONAL.encode("big5")
    data.decode("gb18030")  # decodes without error, into nonsense: the reason for the plausibility check
    assert read_text(write(tmp_path, "doc.txt", data)) == TRADITIONAL


def test_line_endings_are_normalised_and_text_is_nfc(tmp_path):
    path = write(tmp_path, "doc.txt", "第一行\r\n第二行\rCafe\u0301\n")
    assert read_text(path) == "第一行\n第二行\nCafé"


def test_binary_file_is_rejected_with_a_clear_message(tmp_path):
    path = write(tmp_path, "blob.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(UnsupportedDocument, match=r"blob\.txt.*binary"):
        read_text(path)


def test_control_character_soup_is_rejected(tmp_path):
    path = write(tmp_path, "noise.txt", bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15] * 20) + b"abc")
    with pytest.raises(UnsupportedDocument, match="binary"):
        read_text(path)


def test_empty_document_is_rejected(tmp_path):
    with pytest.raises(UnsupportedDocument, match="empty"):
        read_text(write(tmp_path, "empty.txt", "  \n\n "))


def test_unsupported_suffix_is_rejected_by_read_text_too(tmp_path):
    with pytest.raises(UnsupportedDocument, match=r"sheet\.xlsx.*unsupported"):
        read_text(write(tmp_path, "sheet.xlsx", b"PK"))


def test_unsupported_document_is_a_bot_error():
    assert issubclass(UnsupportedDocument, BotError)
    assert SUPPORTED_SUFFIXES == {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}


def test_shipped_documents_read_as_lines():
    text = read_text(DOCS / "002_be7f47508b907706.txt")
    assert text.splitlines()[0] == "中原消費(fèi)金融上門催收了"
    assert "\r" not in text


# --------------------------------------------------------------------------- markdown


def test_markdown_syntax_is_stripped_lightly(tmp_path):
    source = (
        "# 上門催收\n"
        "\n"
        "催收人員**不得**在晚上10點後*聯繫*借款人,詳見[監管規定](https://example.com/rule)。\n"
        "第二行接着同一段落。\n"
        "\n"
        "## 1.1 應對方法 ##\n"
        "- 保留錄音\n"
        "1. 逾期提醒:先發短信\n"
        "> 引用的話\n"
        "\n"
        "![圖](x.png)\n"
        "---\n"
        "snake_case stays\n"
    )
    lines = read_text(write(tmp_path, "a.md", source)).split("\n")
    assert lines == [
        "上門催收",
        "催收人員不得在晚上10點後聯繫借款人,詳見監管規定。第二行接着同一段落。",
        "1.1 應對方法",
        "保留錄音",
        "1. 逾期提醒:先發短信",
        "引用的話",
        "圖",
        "snake_case stays",
    ]


# --------------------------------------------------------------------------- html


def test_html_keeps_block_structure_and_drops_scripts_and_page_furniture(tmp_path):
    source = """<!doctype html><html><head><title>頁面</title><style>p{color:red}</style></head>
    <body><nav>首頁 &gt; 催收科普</nav><header>網站頭</header>
    <article><!-- ad slot --><h1>催收的應對方法</h1>
      <p>第一段,<b>重點</b>內容
         繼續。</p>
      <script>var tracker = "secret";</script>
      <ul><li>保留錄音</li><li>投訴</li></ul>
      <p>第二段<br>換行</p>
    </article><aside>熱門文章</aside><footer>版權所有</footer></body></html>"""
    lines = read_text(write(tmp_path, "page.html", source)).split("\n")
    assert lines == ["頁面", "催收的應對方法", "第一段,重點內容繼續。", "保留錄音", "投訴", "第二段", "換行"]


def test_html_in_big5_is_decoded(tmp_path):
    source = "".join(f"<p>{line}</p>" for line in TRADITIONAL.split("\n")).encode("big5")
    assert read_text(write(tmp_path, "page.htm", source)) == TRADITIONAL


# --------------------------------------------------------------------------- docx


def test_docx_paragraphs_and_table_cells_one_per_line(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("中銀消費金融貸款催收", level=1)
    document.add_paragraph("催收人員需具備良好的溝通能力。")
    document.add_paragraph("")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "逾期天數"
    table.cell(0, 1).text = "催收方式"
    document.add_paragraph("結尾段落")
    path = tmp_path / "doc.docx"
    document.save(path)

    assert read_text(path).split("\n") == [
        "中銀消費金融貸款催收",
        "催收人員需具備良好的溝通能力。",
        "逾期天數",
        "催收方式",
        "結尾段落",
    ]


def test_corrupt_docx_is_rejected_with_a_clear_message(tmp_path):
    with pytest.raises(UnsupportedDocument, match=r"broken\.docx.*Word"):
        read_text(write(tmp_path, "broken.docx", b"not a zip file"))


# --------------------------------------------------------------------------- pdf


def minimal_pdf(content_stream: bytes | None) -> bytes:
    """A valid one-page PDF, written by hand (pypdf cannot write text); no stream means a blank page."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200]"
        + (b" /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >>" if content_stream else b"")
        + b" >>",
    ]
    if content_stream:
        objects.append(b"<< /Length %d >>\nstream\n" % len(content_stream) + content_stream + b"\nendstream")
        objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_layer_is_extracted(tmp_path):
    stream = b"BT /F1 12 Tf 20 150 Td (Debt collection rules) Tj 0 -20 Td (Second line) Tj ET"
    path = write(tmp_path, "rules.pdf", minimal_pdf(stream))
    text = read_text(path)
    assert "Debt collection rules" in text
    assert "Second line" in text


def test_pdf_without_text_layer_is_rejected_with_advice(tmp_path):
    path = write(tmp_path, "scan.pdf", minimal_pdf(None))
    with pytest.raises(UnsupportedDocument, match=r"scan\.pdf: no text layer"):
        read_text(path)


def test_garbage_pdf_is_rejected_without_a_traceback(tmp_path):
    with pytest.raises(UnsupportedDocument, match=r"junk\.pdf"):
        read_text(write(tmp_path, "junk.pdf", b"%PDF-1.4\nthis is not really a pdf"))
