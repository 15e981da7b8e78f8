# Convenience wrappers; the real commands need only Python: python3 manage.py demo|test
.PHONY: demo test
demo:
	python3 manage.py demo
test:
	python3 manage.py test
