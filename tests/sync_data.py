"""A small help-desk routing space for sync tests: each passage names the desk that handles one kind of request.

The questions never use the passage's words, so the packaged model ranks some passages wrongly before training;
two questions per passage are for training and the third is held out, which a fine-tuned model should then rank
better.
"""

ROUTES = [
    ("Desk A1 handles the staff canteen menu and dietary requests.",
     ["What food is served at work?", "Who can tell me what lunch is today?", "Where do I ask about vegan meals?"]),
    ("Desk B2 handles broken monitors, keyboards and docking stations.",
     ["My screen stopped working, who fixes it?", "Where do I report a faulty keyboard?",
      "Who replaces a dead laptop dock?"]),
    ("Desk C3 handles parking permits and bicycle storage.",
     ["Where do I get a permit for my car?", "Who assigns spaces in the garage?", "Where can I lock my bike?"]),
    ("Desk D4 handles payroll errors and missing salary payments.",
     ["My wages were not paid, who do I call?", "Who corrects a wrong payslip?", "Who fixes an underpaid month?"]),
    ("Desk E5 handles building access cards and lost badges.",
     ["I lost my ID card, what now?", "Who opens doors I cannot enter?", "Who issues a replacement pass?"]),
    ("Desk F6 handles travel bookings, flights and hotels.",
     ["Who books my plane tickets?", "Where do I reserve a room for a business trip?",
      "Who arranges accommodation abroad?"]),
    ("Desk G7 handles password resets and locked accounts.",
     ["I cannot log in anymore, who helps?", "Who unlocks my user?", "I forgot my credentials, who resets them?"]),
    ("Desk H8 handles office furniture, desks and chairs.",
     ["My seat is uncomfortable, who replaces it?", "Who orders a standing table?", "Where do I ask for a new chair?"]),
    ("Desk J9 handles expense claims and receipts.",
     ["Who reimburses what I paid myself?", "Where do I send my taxi bills?", "Who pays back my costs?"]),
    ("Desk K10 handles meeting room bookings and projectors.",
     ["Who reserves a conference space?", "Where do I book somewhere to meet a client?",
      "Who sets up the beamer for a presentation?"]),
    ("Desk L11 handles parental leave and sabbaticals.",
     ["I am having a baby, who arranges my time off?", "Who approves a long career break?",
      "Where do new fathers ask about leave?"]),
    ("Desk M12 handles printer toner and paper supplies.",
     ["The copier is empty, who refills it?", "Who brings more ink cartridges?", "Where do I order paper for printing?"]),
]


def routing_examples():
    """(question, passage, held_out) for every question; the third question of each passage is held out."""
    return [(question, passage, index == 2)
            for passage, questions in ROUTES for index, question in enumerate(questions)]
