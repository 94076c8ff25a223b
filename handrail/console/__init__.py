"""The approval console: a web page, served by Handrail itself at /console, where a reviewer sees what the agent
wants to do and approves, edits or rejects it. Static HTML, CSS and JavaScript (no build step, no third-party host);
every call it makes is to the public JSON API, with the reviewer's key in a header."""
