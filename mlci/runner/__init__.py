"""The machine a run happens on: its environment, GPUs (doctor) and which variables are secrets."""
