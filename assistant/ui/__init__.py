"""The Gradio surfaces: the chat, and the staff tabs (Quality, Documents) it shows to staff."""
