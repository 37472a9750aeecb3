"""Appeals: registered requests, complaints and incidents that move through their topic's
stages with deadlines, SLA clocks, history and notices to the customer (docs/appeals.md).

A capability package: its pure core (statuses and transitions, reference numbers, business
time, topics and their forms) imports no I/O; its store, service and routes build on the core
(`gateway/`), which wires the package in through ``setup(app)``.
"""
