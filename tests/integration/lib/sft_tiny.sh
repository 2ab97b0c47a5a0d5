# The tiny fine-tuning set-up shared by the SFT scripts (sourced after common.sh): a small synthetic
# dataset with texts, a tiny motion tokenizer trained for a few updates, the token store it makes,
# and the tiny random Llama model (make_tiny_llm). Defines SFT_SETS, the --set overrides of
# configs/sft_stage1.ini that point at them and shrink the job.
TINY=${AGIR_TINY_LLM:?AGIR_TINY_LLM must point at make_tiny_llm}
"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=6 --set synth.walks_per_state=1 \
  --set synth.seconds=4 --set synth.output=walks.h5 --set run.dir=synth --set run.log_level=quiet
"$A" describe walks.h5 --out texts.h5 --quiet
"$A" train "$SRC/configs/vqvae_demo.ini" --set data.path=walks.h5 --set data.window=16 \
  --set data.val_fraction=0.25 --set model.width=16 --set model.depth=1 --set model.codes=16 \
  --set model.code_dim=8 --set optim.warmup=2 --set train.batch=8 --set train.steps=20 \
  --set train.val_every=0 --set train.ckpt_every=20 --set run.threads=1 --set run.dir=vq \
  --set run.log_level=quiet
"$A" tokenize --model vq texts.h5 --out tokens.h5 --quiet
"$TINY" tiny "$SRC/tests/fixtures/tokenizer/smollm.json"
SFT_SETS=(--set data.tokens=tokens.h5 --set data.texts=texts.h5 --set data.tokenizer=vq --set model.path=tiny
          --set split.mode=list --set split.test=SYN002 --set sft.max_len=512 --set train.batch_tokens=1024
          --set lora.rank=4 --set lora.alpha=8 --set optim.lr=1e-2 --set rows.lr=1e-2 --set optim.warmup=2
          --set train.log_every=5 --set train.val_every=0 --set train.val_max=4 --set run.threads=1)
