"""Plans, usage tokens and Stripe billing (USAGE_TOKENS_ENABLED; README "Plans and billing").

plans.py: the plan and pack table; costs.py: what a job costs; limits.py: what a plan allows (403 / 402
sentences); ledger.py: the append-only token ledger (reserve, settle, refund, grants); meter.py: admission
(called from burntbeats.jobs.admission.admit); stripe_gateway.py: checkout, portal, webhooks.
"""
