"""HTTP routes, thin: parse, call one service function, map its errors."""
