"""The no-Docker local stack of o2o-bridge: moto endpoint, tables and queues, HTTP API
emulator, scheduler, queue drain and sandbox slots, all read from template.yaml.

See docs/local-stack.md; the entry points are ``o2o_local.stack.LocalStack`` and the
``run_*`` functions of ``o2o_local.commands`` behind ``o2o local ...``.
"""
