"""Loaders of ARC questions and captions, the reference prompt, the tokenizer fixture."""
import json

import pytest

from fcbench.codecs.common import settings
from fcbench.machines import text
from fcbench.machines.text import DataError


def test_official_arc_list_loads_100_questions_matching_the_shape_list():
    questions = text.load_arc()
    counts = text.arc_token_counts()
    assert len(questions) == 100
    assert {q.id for q in questions} == set(counts)
    assert all(153 <= n <= 259 for n in counts.values())  # docs/test-conditions.md §1
    assert all(q.answer in "ABCD" for q in questions)


def test_prompt_reproduces_the_reference_format():
    q = text.load_arc(sample_list=["MCAS_2006_9_44"])[0]
    expected = (
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n"
        "Question: An astronaut drops a 1.0 kg object and a 5.0 kg object on the Moon. Both objects fall a total "
        "distance of 2.0 m vertically. Which of the following best describes the objects after they have fallen "
        "a distance of 1.0 m?\n"
        "A: They have each lost kinetic energy.\n"
        "B: They have each gained the same amount of potential energy.\n"
        "C: They have each lost the same amount of potential energy.\n"
        "D: They have each gained one-half of their maximum kinetic energy.\n"
        'Your response should end with "The best answer is [the_answer_letter]" where the [the_answer_letter] '
        "is one of A, B, C or D.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nThe best answer is"
    )
    assert q.prompt == expected
    assert q.answer == "D"


@pytest.mark.skipif(not settings.LLAMA3_TOKENIZER.get(),
                    reason="set FCBENCH_LLAMA3_TOKENIZER to a local Llama-3 tokenizer folder to check the exact token counts")
def test_prompt_token_counts_match_the_reference_with_the_real_tokenizer():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(settings.LLAMA3_TOKENIZER.get())
    counts = text.arc_token_counts()
    got = {q.id: len(tokenizer(q.prompt)["input_ids"]) for q in text.load_arc()}
    assert got == counts


def test_sample_list_selects_and_orders_and_names_missing_ids(tmp_path):
    ids = ["Mercury_7270393", "MCAS_2006_9_44"]
    assert [q.id for q in text.load_arc(sample_list=ids)] == ids
    listed = tmp_path / "list.txt"
    listed.write_text("Mercury_7270393.npy 1 1 200 4096\nMCAS_2006_9_44\n")
    assert [q.id for q in text.load_arc(sample_list=listed)] == ids
    assert len(text.load_arc(sample_list=text.official_path(text.ARC_SHAPES))) == 100  # header lines skipped
    with pytest.raises(DataError, match="NOPE_1"):
        text.load_arc(sample_list=["MCAS_2006_9_44", "NOPE_1"])
    assert [q.id for q in text.load_arc(limit=3)] == [q.id for q in text.load_arc()[:3]]


def _arc(qid, labels=("A", "B", "C", "D"), key="B"):
    return {"id": qid, "question": {"stem": "Why?", "choices": [{"text": f"t{label}", "label": label} for label in labels]}, "answerKey": key}


def test_arc_records_are_validated_with_file_and_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(_arc("a")) + "\n" + json.dumps(_arc("b", labels=("1", "2", "3", "4"), key="3")) + "\n")
    qs = text.load_arc(path)
    assert [q.answer for q in qs] == ["B", "C"]
    path.write_text(json.dumps(_arc("a")) + "\n{broken\n")
    with pytest.raises(DataError, match=r"q.jsonl:2: not valid JSON"):
        text.load_arc(path)
    path.write_text(json.dumps(_arc("five", labels=("A", "B", "C", "D", "E"))) + "\n")
    with pytest.raises(DataError, match=r"five.*exactly 4 choices"):
        text.load_arc(path)
    path.write_text(json.dumps(_arc("k", key="Z")) + "\n")
    with pytest.raises(DataError, match="answerKey 'Z'"):
        text.load_arc(path)
    path.write_text(json.dumps(_arc("d")) + "\n" + json.dumps(_arc("d")) + "\n")
    with pytest.raises(DataError, match="duplicate sample ids"):
        text.load_arc(path)
    with pytest.raises(DataError, match="does not exist"):
        text.load_arc(tmp_path / "absent")


def test_folder_resolution(tmp_path):
    with pytest.raises(DataError, match="holds 0 "):
        text.load_arc(tmp_path)
    (tmp_path / "x.jsonl").write_text(json.dumps(_arc("x")) + "\n")
    assert text.load_arc(tmp_path)[0].id == "x"
    (tmp_path / "y.jsonl").write_text(json.dumps(_arc("y")) + "\n")
    with pytest.raises(DataError, match="holds 2 "):
        text.load_arc(tmp_path)


def test_training_prompts_mix_arc_and_raw_text(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(_arc("q1")) + "\n" + json.dumps({"id": "t1", "text": "plain text"}) + "\n")
    items = text.load_prompts(path)
    assert items[0].prompt.startswith("<|start_header_id|>user") and items[1].prompt == "plain text"
    path.write_text(json.dumps({"id": "t1", "body": "?"}) + "\n")
    with pytest.raises(DataError, match="none of the text fields"):
        text.load_prompts(path)


def test_official_captions_and_caption_files(tmp_path):
    caps = text.load_captions()
    assert len(caps) == 100
    assert caps[0].id == "COCO_val2017_000000397133" and caps[0].text.startswith("A table with pies")
    path = tmp_path / "caps.txt"
    path.write_text("img1.jpg a cat: on a mat\n\nimg2.png two dogs\n")
    assert [(c.id, c.text) for c in text.load_captions(path)] == [("img1", "a cat: on a mat"), ("img2", "two dogs")]
    path.write_text("img1.jpg\n")
    with pytest.raises(DataError, match=r"caps.txt:1: expected"):
        text.load_captions(path)
    folder = tmp_path / "coco"
    folder.mkdir()
    jl = folder / "caps.jsonl"
    jl.write_text(json.dumps({"id": "c1", "caption": "a red bus"}) + "\n")
    assert text.load_captions(jl)[0].text == "a red bus"
    assert text.load_captions(folder)[0].id == "c1"


def test_tokenizer_fixture_is_what_training_produces(tmp_path, tokenizer_dir):
    text.save_tiny_tokenizers(tmp_path)
    for name in ("llama/tokenizer.json", "clip/vocab.json", "clip/merges.txt"):
        assert (tmp_path / name).read_bytes() == (tokenizer_dir / name).read_bytes(), name
