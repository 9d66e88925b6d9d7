"""Make the compact word/UPOS files of this folder from the CoNLL-U release.

Run once by a maintainer (the result is committed); nothing runs it at build,
test or grading time:

    python data/ud_english_ewt/convert.py PATH/TO/UD_English-EWT

It keeps column 2 (FORM) and column 4 (UPOS) of every syntactic word, one
word per line separated by a tab, and a blank line after each sentence.
Multiword-token ranges ("3-4") and empty nodes ("8.1") are left out: the
words they stand for are listed on their own lines, which is what a tagger
reads. The output is gzipped with a fixed timestamp, so reruns give
identical bytes.
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "dev", "test")


def sentences(conllu: Path) -> list[list[tuple[str, str]]]:
    """The (form, upos) pairs of each sentence of a gzipped CoNLL-U file."""
    out: list[list[tuple[str, str]]] = []
    words: list[tuple[str, str]] = []
    with gzip.open(conllu, "rt", encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                if words:
                    out.append(words)
                words = []
            elif not line.startswith("#"):
                columns = line.split("\t")
                if columns[0].isdigit():
                    words.append((columns[1], columns[3]))
    if words:
        out.append(words)
    return out


def main(source: Path) -> None:
    for split in SPLITS:
        data = sentences(source / f"en_ewt-ud-{split}.conllu.gz")
        text = "".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in data)
        with open(HERE / f"{split}.tsv.gz", "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as packed:
            packed.write(text.encode("utf-8"))
        print(f"{split}: {len(data)} sentences, {sum(map(len, data))} words")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
