"""Scopes per endpoint: the first rule matching method + path names the scopes a call needs."""

from __future__ import annotations

import fnmatch

from schemas.settings import ScopeRule


class ScopeRules:
    def __init__(self, rules: list[ScopeRule]) -> None:
        self.rules = rules

    def required(self, method: str, path: str) -> frozenset[str] | None:
        for rule in self.rules:
            if ("*" in rule.methods or method in rule.methods) and fnmatch.fnmatchcase(
                path, rule.path
            ):
                return frozenset(rule.scopes)
        return None

    def missing(self, method: str, path: str, granted: frozenset[str]) -> frozenset[str]:
        need = self.required(method, path)
        return need - granted if need else frozenset()
