"""Request and response models of the API (FastAPI full-stack template style: `*Public` = what a response
holds). `common` has the shared and stems/speech/jobs/models/health models, `requests` the form and JSON
bodies of those routes; each capability with its own models adds a module (e.g. `midi`)."""
