"^/a" => [second = ÿ]
