"""Settings of the claim-submission bench only: the portal's, with the bench's URLconf (which
adds the baseline view). Never used by the portal itself."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "claim_bench_urls"
