"""The console's MCP server (Model Context Protocol): assistants read the evidence and request
governed actions through the same services as the pages, as a real console user."""
