"^/towns" => [second = 1],
"^/towns" =>
