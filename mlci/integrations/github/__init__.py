"""Everything that talks to GitHub: REST client, sticky comment, check run, event, reviews, image assets.

This is the only package that needs the network; everything before it (run, diff, report) works
offline, so a GitHub outage can delay a report but never change a number in it.
"""
