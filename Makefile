# edgerelay.proxy developer targets. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

# Molecule scenarios, in the order `make molecule` runs them.
SCENARIOS ?= common default scale failover xray monitoring

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: bootstrap
bootstrap: ## Install/prepare everything (idempotent, offline-capable); prints each step's duration
	@scripts/bootstrap.sh

.PHONY: test
test: bootstrap lint unit integration rules-test molecule vagrant-test ## Lint, unit and integration tests, alert rule tests, every Molecule scenario, the Vagrant docker path

.PHONY: lint
lint: bootstrap ## yamllint, ansible-lint (production profile), ruff, ansible-test sanity, changelog fragments
	yamllint --strict .
	ansible-lint --profile production
	ruff check plugins tests scripts images molecule
	ruff format --check plugins tests scripts images molecule
	$(run-changelog-lint)
	$(run-sanity)

# ansible-test sanity runs in a directory ending in ansible_collections/edgerelay/proxy: the
# content the collection ships (unpacked from `ansible-galaxy collection build`, so build_ignore
# applies) plus tests/. The tree gets a repository of its own, with nothing committed:
# ansible-test lists a checkout's files with git, and here the checkout would be this
# repository, where .cache is ignored. Most tests run in virtual environments ansible-test
# creates from its own pinned requirements; they and its pip bootstrap (tests/sanity/get_pip.py
# stands in for the script it would download from ci-files.testing.ansible.com, named after
# the pip version ansible-test wants) live under SANITY_HOME, created on the first run.
SANITY_ROOT := $(ROOT)/.cache/sanity
SANITY_TREE := $(SANITY_ROOT)/ansible_collections/edgerelay/proxy
SANITY_HOME := $(SANITY_ROOT)/home
SANITY_TESTS ?= action-plugin-docs ansible-doc compile empty-init ignores import line-endings \
  no-assert no-get-exception no-illegal-filenames no-smart-quotes pep8 replace-urlopen \
  runtime-metadata shebang symlinks use-argspec-type-path use-compat-six validate-modules yamllint

define run-sanity
rm -rf $(SANITY_TREE) $(SANITY_ROOT)/dist
mkdir -p $(SANITY_TREE) $(SANITY_HOME)/.ansible/test/cache
ansible-galaxy collection build --output-path $(SANITY_ROOT)/dist $(ROOT) >/dev/null
tar -xzf $(SANITY_ROOT)/dist/*.tar.gz -C $(SANITY_TREE)
git ls-files -z --cached --others --exclude-standard -- tests \
  | xargs -0 -r sh -c 'for f; do [ ! -e "$$f" ] || printf "%s\0" "$$f"; done' sh \
  | tar --null --no-recursion -T - -cf - | tar -xf - -C $(SANITY_TREE)
git -C $(SANITY_TREE) init -q
pip=$$(python3 -c 'from types import SimpleNamespace as P; from ansible_test._internal.python_requirements import get_venv_packages as v; print(v(P(version="3.11"))["pip"])'); \
  cp tests/sanity/get_pip.py $(SANITY_HOME)/.ansible/test/cache/get_pip_$${pip//./_}.py
cd $(SANITY_TREE) && HOME=$(SANITY_HOME) ansible-test sanity --local --python 3.11 \
  --color no $(addprefix --test ,$(SANITY_TESTS))
endef

.PHONY: sanity
sanity: bootstrap ## ansible-test sanity (Python 3.11) on the shipped content plus tests/
	$(run-sanity)

define run-changelog-lint
antsibull-changelog lint
antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml
endef

.PHONY: changelog-lint
changelog-lint: bootstrap ## antsibull-changelog lint of the fragments and changelogs/changelog.yaml
	$(run-changelog-lint)

.PHONY: unit
unit: bootstrap ## Unit and property tests of the plugins, in process (pytest + hypothesis)
	pytest tests/unit

.PHONY: integration
integration: bootstrap ## Plugins through real ansible-playbook runs, the galaxy build, geodata with a real Xray
	pytest tests/integration

.PHONY: rules-test
rules-test: bootstrap ## Alert rules (promtool test rules); promtool/amtool checks of the rendered configs and dashboard
	ansible-playbook tests/prometheus/check.yml

.PHONY: molecule
molecule: bootstrap ## Every Molecule scenario (converge, idempotence, verify on real containers)
	@for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s ==="; \
	  start=$$(date +%s); \
	  molecule test -s $$s || exit 1; \
	  echo "=== molecule $$s passed in $$(( $$(date +%s) - start ))s ==="; \
	done

.PHONY: vagrant-test
vagrant-test: bootstrap ## vagrant validate (all providers), up/provision/destroy with the docker provider
	scripts/vagrant_test.sh

.PHONY: vagrant-vm-test
vagrant-vm-test: bootstrap ## A real VM (libvirt; KVM or TCG): box built here, vagrant up, verify, provision 0 changed, destroy (~30 min under TCG; not in `make test`)
	scripts/vagrant_vm_test.sh

.PHONY: box
box: ## Build the Vagrant box edgerelay/debian12 for libvirt (debootstrap, no download) and add it
	scripts/build_box.sh

.PHONY: bench
bench: bootstrap ## Benchmark against its own lab host: prints a table, writes docs/benchmarks.md
	python3 scripts/bench.py

.PHONY: bench-smoke
bench-smoke: bootstrap ## A short run of the benchmark harness (no goals checked)
	python3 scripts/bench.py --smoke

# make lab [STACK=all|mtproxy|xray]: the lab stacks to bring up (default: both). Each has its
# own inventory in lab/ and its own run of lab/up.yml (MTProxy first); ansible.cfg's default
# inventory stays the MTProxy lab.
STACK ?= all
LAB_XRAY_CONTAINERS := edgerelay-lab-xray-proxy edgerelay-lab-xray-vpn1 edgerelay-lab-xray-vpn2 \
  edgerelay-lab-xray-dest edgerelay-lab-xray-client
LAB_XRAY_LINKS := lab/.edgerelay/links/edgerelay-lab-xray-proxy.txt
lab-stack = $(filter all $(1),$(STACK))

.PHONY: lab
lab: bootstrap ## Local lab (STACK=all|mtproxy|xray; default all): containers, deploy, verify, print the links
	@case "$(STACK)" in all|mtproxy|xray) ;; *) echo "make lab: STACK must be all, mtproxy or xray, not '$(STACK)'" >&2; exit 2 ;; esac
ifneq ($(call lab-stack,mtproxy),)
	ansible-playbook -i lab/inventory.yml lab/up.yml
endif
ifneq ($(call lab-stack,xray),)
	ansible-playbook -i lab/xray-inventory.yml lab/up.yml
endif
ifneq ($(call lab-stack,mtproxy),)
	@echo
	@echo "Lab is up. The links are printed above (task 'Print the client links') and kept in lab/.edgerelay/links/ (0600)."
	@echo "  stats:      docker exec edgerelay-lab sh -c \"echo 'show stat' | socat stdio /run/haproxy/admin.sock\" (the page is on the lab's loopback)"
	@echo "  monitoring: Prometheus http://127.0.0.1:9090  Alertmanager http://127.0.0.1:9093"
	@echo "              dashboard JSON roles/monitoring/files/grafana/proxy-ha-overview.json"
	@echo "  re-deploy:  ansible-playbook -i lab/inventory.yml playbooks/deploy.yml [--tags scale|config|monitoring|verify]"
	@echo "  shell:      docker exec -it edgerelay-lab bash"
	@echo "  tear down:  make lab-down"
endif
ifneq ($(call lab-stack,xray),)
	@echo
	@echo "Xray lab is up: proxy node edgerelay-lab-xray-proxy (10.251.78.10, ru preset, tcp-vision :443 + xhttp :8444),"
	@echo "backends edgerelay-lab-xray-vpn1/vpn2 (relay leg xhttp), destination edgerelay-lab-xray-dest (site.lab.ru, site.lab.example)."
	@echo "  links of lab-user ($(LAB_XRAY_LINKS), 0600):"
	@sed 's/^/    /' $(LAB_XRAY_LINKS)
	@echo "  try them:   docker exec edgerelay-lab-xray-client lab-xray-fetch"
	@echo "              (client config from the links alone, then a foreign and a .ru page through each: which host each left from)"
	@echo "  re-deploy:  ansible-playbook -i lab/xray-inventory.yml playbooks/deploy.yml [--tags config|xray|verify]"
	@echo "  shell:      docker exec -it edgerelay-lab-xray-proxy bash"
	@echo "  tear down:  make lab-down [STACK=xray]"
endif

.PHONY: lab-down
lab-down: ## Remove the lab's containers, Docker volumes and networks (STACK=mtproxy|xray: that stack's only)
ifneq ($(call lab-stack,mtproxy),)
	-docker rm -f edgerelay-lab edgerelay-lab-mask edgerelay-bench edgerelay-bench-client edgerelay-bench-direct edgerelay-bench-faketls edgerelay-bench-mask
	-docker volume rm edgerelay-lab-docker edgerelay-bench-docker
	-docker network rm edgerelay-lab
endif
ifneq ($(call lab-stack,xray),)
	-docker rm -f $(LAB_XRAY_CONTAINERS)
	-docker network rm edgerelay-lab-xray
endif

.PHONY: build
build: bootstrap ## Build the collection tarball (ansible-galaxy collection build)
	ansible-galaxy collection build --force --output-path $(ROOT)/.cache/dist $(ROOT)

.PHONY: clean
clean: lab-down ## Remove lab, molecule leftovers, caches and the venv (keeps Docker images)
	-for s in $(SCENARIOS); do molecule destroy -s $$s >/dev/null 2>&1 || true; done
	rm -rf .venv .collections .cache .pytest_cache .ruff_cache .hypothesis lab/.state
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
