"""The scenarios `make demo` drives, one module each with ``run(demo: Demo)``; the order
is ``o2o_local.demo.SCENARIOS``. They share the one demo tenant (local/tenants/demo.yaml)
and the sandboxes, so each uses its own document numbers and SKUs."""
