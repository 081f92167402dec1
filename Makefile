# seg_f1: `make train` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision must come as a matching pair: a CPU torch beside PyPI's CUDA
# torchvision fails with "operator torchvision::nms does not exist" (GUIDE section 4).
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= dev,sweep,report,faces
STAMP := $(VENV)/.installed-$(subst $(eval) ,_,$(EXTRAS))

export HF_HUB_OFFLINE ?= 1
export NO_ALBUMENTATIONS_UPDATE ?= 1

.PHONY: install postgres train test lint format clean ablation loss-search pruning-benchmark \
	lfw-parts lfw-parts-ablation

install: $(STAMP)

# The Optuna worker tests run a throwaway PostgreSQL server (Debian's package; initdb/pg_ctl, no
# service), so `make test` installs it when missing (apt-get: root); `make train` does not need it.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		(apt-get update && apt-get install -y postgresql)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_PAIR)
	# replaced by seg_f1's own sweeper; an old copy would shadow its hydra/sweeper=optuna
	$(BIN)/python -m pip uninstall -y hydra-optuna-sweeper
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]" $(TORCH_PAIR)
	touch $@

train: install
	$(BIN)/python train.py $(ARGS)

# one pytest worker per logical CPU (pytest-xdist; tests/conftest.py gives each its share of threads),
# work stolen from a busy worker so a long test at the end does not leave a core idle
PYTEST_ARGS ?= -n logical --maxprocesses=8 --dist worksteal
test: install postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Which loss maximises F1: 7 loss configs x the same 3 seeds, then docs/ablation.md with paired
# verdicts (faster at epoch 4? better at the end?) and docs/img/ablation_curves.png.
# The default budget is the default run's (10 epochs at 64 px, where it has converged): about an
# hour on 2 CPU cores. With a GPU and real data, for example:
#   make ablation ABLATION_BUDGET="data=celebamask_hq trainer=gpu hydra/launcher=submitit_slurm"
ABLATION_DIR ?= outputs/ablation
ABLATION_BUDGET ?= trainer.max_epochs=10
ablation: install
	$(BIN)/python train.py -m hparams_search=ablation hydra.sweep.dir=$(ABLATION_DIR) \
		'~callbacks.progress_bar' $(ABLATION_BUDGET)
	$(BIN)/python -m seg_f1.ablation $(ABLATION_DIR) --out docs/ablation.md

# The open search beside the table: Optuna (TPE) over loss family x dice_weight x lr x weight decay
# at the same budget, hyperband-pruned (max_resource: from the first finished trial's epochs).
# Rerun to resume; python -m seg_f1.sweep_report $(SEARCH_DIR) for its table and trials.png.
SEARCH_DIR ?= outputs/loss_search
SEARCH_TRIALS ?= 20
loss-search: install
	$(BIN)/python train.py -m hparams_search=optuna hydra/sweeper/pruner=hyperband \
		hydra.sweeper.n_trials=$(SEARCH_TRIALS) hydra.sweeper.study_name=loss_search \
		hydra.sweep.dir=$(SEARCH_DIR) '~callbacks.progress_bar' $(ABLATION_BUDGET)
	$(BIN)/python -m seg_f1.sweep_report $(SEARCH_DIR)

# 16 Optuna trials of at most 6 epochs: unpruned, hyperband and successive halving, side by side
# (one thread each; docs/sweeps.md, Pruning)
pruning-benchmark: install
	$(BIN)/python benchmarks/bench_pruning.py --trials 16 --epochs 6 \
		--pruners hyperband,successive_halving,median \
		--option successive_halving.reduction_factor=6 --option median.n_startup_trials=2

# Real faces: LFW Part Labels unpacked at LFW_ROOT (docs/data.md, docs/real_faces.md).
# lfw-parts: the recipe (conf/experiment/lfw_parts.yaml) trained once, then its best checkpoint
# scored on the 927 test photos at 128 px and at the photos' own 250 px, with flip TTA.
# lfw-parts-ablation: the loss table's 7 configurations x 3 seeds on LFW-PL at LFW_BUDGET,
# written to docs/ablation_lfw_parts.md.
LFW_ROOT ?= data/lfw_parts
LFW_DIR ?= outputs/lfw_parts
LFW_BUDGET ?= data.image_size=64 trainer.max_epochs=10
LFW_BEST = $$(ls $(LFW_DIR)/recipe/checkpoints/epoch*.ckpt | head -n 1)
LFW_EVAL = $(BIN)/python -m seg_f1.evaluate tta=flip  # the data: the checkpoint's own
lfw-parts: install
	$(BIN)/python train.py experiment=lfw_parts data.root=$(LFW_ROOT) \
		hydra.run.dir=$(LFW_DIR)/recipe '~callbacks.progress_bar'
	$(LFW_EVAL) ckpt_path=$(LFW_BEST) hydra.run.dir=$(LFW_DIR)/test_128
	$(LFW_EVAL) ckpt_path=$(LFW_BEST) eval_at_original_size=true hydra.run.dir=$(LFW_DIR)/test_250

lfw-parts-ablation: install
	$(BIN)/python train.py -m hparams_search=ablation data=lfw_parts data.root=$(LFW_ROOT) \
		hydra.sweep.dir=$(LFW_DIR)/ablation '~callbacks.progress_bar' $(LFW_BUDGET)
	$(BIN)/python -m seg_f1.ablation $(LFW_DIR)/ablation --out docs/ablation_lfw_parts.md \
		--curves docs/img/ablation_lfw_parts_curves.png

clean:
	rm -rf outputs lightning_logs .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
