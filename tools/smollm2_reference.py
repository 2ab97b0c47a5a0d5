#!/usr/bin/env python3
"""Reference next-token statistics of the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) on the
committed paragraph tests/fixtures/smollm2/paragraph.txt, computed by an independent implementation:
HF transformers reads the GGUF itself (config, tokenizer, llama.cpp's q/k permutation undone by its
own reverse_permute_weights) and runs LlamaForCausalLM in float32. transformers 4.44 has no Q4_1
dequantizer, so that one step uses the gguf package's numpy code (gguf.quants.dequantize).

Writes tests/fixtures/smollm2/reference.json: the token ids, the reference's arg-max next token at
every position, the mean negative log-likelihood and perplexity. tests/unit/test_smollm2.c
compares the C model with it.

Run (venvs outside the repository; see tools/make_llama_fixtures.py for /work/venv-llama):
  /work/venv-llama/bin/python tools/smollm2_reference.py models-cache/SmolLM2-135M-Instruct.Q4_1.gguf \
      tests/fixtures/smollm2/paragraph.txt tests/fixtures/smollm2/reference.json /work/venv-gguf
The last argument is a virtual environment holding the gguf package (0.19 was used), added to the
module search path after this interpreter's own packages.
"""
import glob
import json
import math
import os
import sys

gguf_path, text_path, out_path, gguf_venv = sys.argv[1:5]
sys.path += glob.glob(os.path.join(gguf_venv, "lib", "python3*", "site-packages"))

import gguf  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import transformers.modeling_gguf_pytorch_utils as gguf_utils  # noqa: E402

original = gguf_utils.load_dequant_gguf_tensor


def dequant(shape, ggml_type, data, n_bytes):
    if ggml_type == gguf.GGMLQuantizationType.Q4_1:
        return gguf.quants.dequantize(np.asarray(data), gguf.GGMLQuantizationType.Q4_1).reshape(shape[::-1])
    return original(shape, ggml_type, data, n_bytes)


gguf_utils.load_dequant_gguf_tensor = dequant

folder, name = os.path.split(os.path.abspath(gguf_path))
tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
# transformers 4.44 does not read tied embeddings from GGUF (no output.weight): tie them here.
if not any(t.name == "output.weight" for t in gguf.GGUFReader(gguf_path).tensors):
    model.lm_head.weight = model.model.embed_tokens.weight
model.eval()

text = open(text_path, encoding="utf-8").read()
ids = tok(text, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].double()
logp = torch.log_softmax(logits, dim=-1)
target = torch.tensor(ids[1:])
nll = -logp[:-1].gather(1, target[:, None]).mean().item()
out = {
    "source": f"transformers {transformers.__version__}, torch {torch.__version__}, gguf {gguf.__version__ if hasattr(gguf, '__version__') else '0.19'}",
    "model": name,
    "ids": ids,
    "argmax": logits[:-1].argmax(-1).tolist(),
    "mean_nll": nll,
    "perplexity": math.exp(nll),
}
with open(out_path, "w") as f:
    json.dump(out, f)
    f.write("\n")
print(f"{len(ids)} tokens, perplexity {out['perplexity']:.4f}")
