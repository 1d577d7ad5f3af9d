"""parentbot: guides parents through a school trust's Social Media Code of Conduct."""
