"""What ops watch: the state /metrics reads at each scrape, and the dashboards and alerts defined once over it."""
