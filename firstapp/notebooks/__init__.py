"""The tutorial's notebooks: generated from one narrative and the step-numbered samples."""
