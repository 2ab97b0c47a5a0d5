#!/usr/bin/env python3
"""Reference fixtures for AGIR's text tokenizer and chat templates (tests/fixtures/tokenizer/).

Trains tiny BPE tokenizers with HF `tokenizers` in the styles AGIR reads (GPT-2 byte-level,
Llama-3 regex, Qwen2 regex, SmolLM2 digits + byte-level, Llama-2 SentencePiece-style with
Metaspace or the legacy Prepend+Replace normalizer, byte fallback), then records HF's ids for an
edge-case corpus, the motion-token extension, and chat templates rendered by jinja2 from their
published Jinja sources. Never needed by CI; run it in a virtual environment outside the repo:

    python3 -m venv /work/venv-tok && /work/venv-tok/bin/pip install tokenizers jinja2
    /work/venv-tok/bin/python tools/make_tokenizer_fixtures.py tests/fixtures/tokenizer

With --gguf MODEL.gguf (the real SmolLM2-135M-Instruct) it instead converts the GGUF's vocabulary
and merges to a HF tokenizer and writes only HF's ids for the corpus and the GGUF's chat template
to smollm2_real.expected.json (the vocabulary itself is not committed).
"""
import json
import os
import sys

import gguf
import jinja2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

# Pre-tokenizer regexes as published (see models/pretok.c for the sources).
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")

TRAIN = [
    "The patient walks with short, shuffling steps and reduced arm swing.",
    "Foot: shuffling gait with reduced step length. Arm: reduced swing on the left. Overall: 2.",
    "Cadence was 104 steps/min; stride length 1.21 m; gait speed 0.98 m/s in 2024.",
    "Freezing of gait occurred twice while turning, lasting 3 s and 5 s.",
    "Hello world! How are you today? I'm fine, thanks. We'll see; they've gone.",
    "Il marche lentement, le pas est court. Él camina despacio. Er geht langsam.",
    "患者は小刻み歩行を示す。步态缓慢。Пациент идёт медленно. Ο ασθενής περπατά αργά.",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 2,718 -42 +7 1e-3",
    "Emoji: 😀 🚶 🦶 👍 🎉 — quotes “like this” and ‘this’ … done.",
    "   indented text\n\n\nwith blank lines\r\nand CRLF\tand tabs",
] * 20

CORPUS = [
    "", " ", "  ", "\n", "\n\n\n", " \n ", "\t", "\r\n",
    "Hello world", "hello  world", "  leading spaces", "trailing spaces   ", "multiple    spaces   between",
    "line1\nline2\r\nline3", "\t tabs\tand spaces \t", "   \n  \n", "tab\t\t\tafter", "a \n\n b",
    "1234567890", "3.14159 and 2,718", "year 2024: 42 cases", "12 345 6789 0.5", "x1y22z333",
    "émigré naïve café", "Ελληνικά κείμενα", "Русский текст", "日本語のテキスト", "中文测试",
    "😀😃🎉 emoji 👨‍👩‍👧", "mixed 🦶 gait 🚶‍♂️", "\u00a0non-breaking\u2009thin", "\u200bzero width",
    "ﬁ ligature", "a\u0301 combining", "\u0001soh and \u0007bell", "\u0004eot byte \u0004\u0004",
    "I'm, you're, they've, we'll, he'd", "DON'T SHOUT'S", "''''", "...!!!???", "--- *** ###",
    "https://example.com/path?q=1&r=2", "ALLCAPS lower MiXeD", "x" * 300,
    "Foot: shuffling. Arm: reduced swing. Overall: 2.", "def f(x):\n    return x**2\n",
    "<|im_start|>user\nhi<|im_end|>\n", "<|endoftext|><|endoftext|>", "a<|im_end|>b", "<|im_start", "<|im_start|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<s>[INST] hi [/INST] ok </s>", " <s> spaced </s> ", "<unk>", "▁already▁spm", "<0x41> literal",
]


def byte_level(pre, specials, ignore_merges=False, vocab=700):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    return tok


def spm(legacy):
    """Llama-2 style: <unk> <s> </s>, 256 <0xXX> byte tokens, then the learned pieces."""
    base = Tokenizer(models.BPE(unk_token="<unk>"))
    base.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=80,
                                  show_progress=False)
    base.train_from_iterator(TRAIN, trainer)
    data = json.loads(base.to_str())
    learned = sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for s, _ in learned:
        if s not in vocab:
            vocab[s] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in data["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    if legacy:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.ByteFallback(),
                                         decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)])
    return tok


def tokenizers_to_build():
    chatml = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    llama3 = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return {
        "gpt2": byte_level(bl, ["<|endoftext|>"]),
        "smollm": byte_level(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl]), chatml),
        "llama3": byte_level(pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), llama3, ignore_merges=True),
        "qwen2": byte_level(pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), chatml),
        "spm": spm(legacy=False),
        "spm_legacy": spm(legacy=True),
    }


# Chat templates as published: SmolLM2-135M-Instruct's tokenizer_config.json (ChatML with a default
# system prompt), Meta-Llama-3-8B-Instruct's, Llama-2-7b-chat-hf's; "plain" is AGIR's own.
TEMPLATES = {
    "chatml": ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
               "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
               "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
               "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
    "llama-3": ("{% set loop_messages = messages %}{% for message in loop_messages %}"
                "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
                "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    "llama-2": ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
                "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
                "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
                "{% if loop.index0 == 0 and system_message != false %}"
                "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
                "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"),
    "plain": ("{% for message in messages %}{{ message['role'] + ': ' + message['content'] }}"
              "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"),
}
SPECIALS = {"chatml": ("<|im_start|>", "<|im_end|>"), "llama-3": ("<|begin_of_text|>", "<|end_of_text|>"),
            "llama-2": ("<s>", "</s>"), "plain": ("", "<|endoftext|>")}

CONVERSATIONS = [
    [("user", "Describe this walk: <som><motion_id_3><motion_id_7><eom>"), ("assistant", "Foot: shuffling. Overall: 2.")],
    [("system", "You are a gait analyst."), ("user", "  Score it.  "), ("assistant", " 3 \n"), ("user", "Why?")],
    [("user", "hi")],
    [("user", "one"), ("user", "two")],
    [("system", "Be brief."), ("user", "émigré 😀\nline two"), ("assistant", "ok")],
]


def render(name, conv, gen):
    env = jinja2.Environment()

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    bos, eos = SPECIALS[name]
    msgs = [{"role": r, "content": c} for r, c in conv]
    return env.from_string(TEMPLATES[name]).render(messages=msgs, add_generation_prompt=gen, bos_token=bos, eos_token=eos)


def write_gguf(tok, pre, path):
    """The tokenizer as llama.cpp's converter stores it: tokenizer.ggml.* keys, no tensors."""
    data = json.loads(tok.to_str())
    vocab = dict(data["model"]["vocab"])
    special = set()
    for a in data["added_tokens"]:
        vocab[a["content"]] = a["id"]
        if a["special"]:
            special.add(a["id"])
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(min(special))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_golden(path, out):
    r = gguf.GGUFReader(path)

    def field(key):
        return r.fields[key]

    def strs(key):
        f = field(key)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens, merges = strs("tokenizer.ggml.tokens"), strs("tokenizer.ggml.merges")
    types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    pre = strs("tokenizer.ggml.pre")[0]
    assert strs("tokenizer.ggml.model")[0] == "gpt2" and pre == "smollm", pre
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == gguf.TokenType.CONTROL])
    ids = [tok.encode(s, add_special_tokens=False).ids for s in CORPUS]
    exp = {"model": os.path.basename(path), "n_vocab": len(tokens), "ids": ids,
           "decoded": [tok.decode(i, skip_special_tokens=False) for i in ids],
           "chat_template": strs("tokenizer.chat_template")[0] if "tokenizer.chat_template" in r.fields else None}
    with open(os.path.join(out, "smollm2_real.expected.json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False)


def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--gguf":
        return gguf_golden(sys.argv[3], sys.argv[1])
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tokenizer"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(CORPUS, f, ensure_ascii=False, indent=0)
    for name, tok in tokenizers_to_build().items():
        tok.save(os.path.join(out, name + ".json"))
        if name in ("smollm", "qwen2"):  # the GGUF route, with llama.cpp's pre-tokenizer names
            write_gguf(tok, name, os.path.join(out, name + ".gguf"))
        ids = [tok.encode(s, add_special_tokens=False).ids for s in CORPUS]
        exp = {"ids": ids, "decoded": [tok.decode(i, skip_special_tokens=False) for i in ids]}
        if name == "smollm":  # a Split regex with empty matches ("x*"): each one ends a piece in HF
            pre = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "x*"}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
            data = json.loads(tok.to_str())
            data["pre_tokenizer"] = pre
            probe = "abxxc x\u00e9x the walk"
            exp["empty_match"] = {"pre_tokenizer": pre, "text": probe, "ids": Tokenizer.from_str(
                json.dumps(data)).encode(probe, add_special_tokens=False).ids}
        if name in ("smollm", "spm"):  # motion-token extension, K = 16
            k = 16
            n0 = tok.get_vocab_size(with_added_tokens=True)
            tok.add_special_tokens(["<motion_id_%d>" % i for i in range(k)] + ["<som>", "<eom>"])
            probe = "Walk: <som><motion_id_0><motion_id_15><motion_id_3><eom> done<motion_id_16>"
            exp["motion"] = {"k": k, "first": n0, "som": tok.token_to_id("<som>"), "eom": tok.token_to_id("<eom>"),
                             "text": probe, "ids": tok.encode(probe, add_special_tokens=False).ids}
        with open(os.path.join(out, name + ".expected.json"), "w", encoding="utf-8") as f:
            json.dump(exp, f, ensure_ascii=False)
    chats = {"templates": TEMPLATES, "cases": []}
    for name in TEMPLATES:
        for conv in CONVERSATIONS:
            for gen in (False, True):
                try:
                    text = render(name, conv, gen)
                except jinja2.exceptions.TemplateError:
                    text = None  # the template refuses this conversation
                chats["cases"].append({"template": name, "messages": conv, "add_generation_prompt": gen, "text": text})
    with open(os.path.join(out, "chat.expected.json"), "w", encoding="utf-8") as f:
        json.dump(chats, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
